"""The real sample videos through the lite (MediaPipe) backends on Ray.

Needs MediaPipe 0.10.14 (``pip install 'animate-anyone-2[lite]'``) and the shared real samples;
skips cleanly without either.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from dataset.shards import iter_samples, list_shards
from preprocess.pipeline import run_preprocess

from .pipeline_corpus import pipeline_config

REAL = Path(__file__).resolve().parents[3] / "shared" / "data" / "real"
pytestmark = [pytest.mark.timeout(300),
              pytest.mark.skipif(not (REAL / "dance_a.mp4").exists(), reason="shared real samples absent")]


def test_dancer_masked_and_keypoints_inside(ray_cluster, tmp_path):
    mp = pytest.importorskip("mediapipe")
    if not hasattr(mp, "solutions"):
        pytest.skip("this MediaPipe has no mp.solutions.pose")
    (tmp_path / "in").mkdir()
    shutil.copy(REAL / "dance_a.mp4", tmp_path / "in" / "dance_a.mp4")
    config = pipeline_config("annotate.localise=lite", "annotate.segment=lite", "annotate.pose=lite",
                             "annotate.depth=lite", "clips.target_fps=7.5", "clips.short_side=256",
                             "clips.clip_frames=16", "clips.min_frames=16", "clips.max_clips_per_video=2")
    summary = run_preprocess(str(tmp_path / "in"), tmp_path / "out", config)
    assert summary["videos_by_status"] == {"ok": 1} and summary["clips"] == 2
    for sample in (s for tar in list_shards(tmp_path / "out" / "shards") for s in iter_samples(tar)):
        assert sample.meta.keypoint_format == "mediapipe_33" and sample.keypoints.shape[1] == 33
        masks = sample.character_mask
        area = masks.mean((1, 2))
        assert (area > 0.05).all() and (area < 0.6).all()  # a dancer, not the room, not nothing
        # The dancer stands in the middle of the frame: the mask's box holds the frame centre column.
        cols = np.nonzero(masks.any((0, 1)))[0]
        assert cols.min() < masks.shape[2] / 2 < cols.max()
        confident = sample.keypoints[..., 2] > 0.8
        xy = np.rint(sample.keypoints[..., :2]).astype(int)
        t_idx = np.nonzero(confident)[0]
        xs = np.clip(xy[..., 0][confident], 0, masks.shape[2] - 1)
        ys = np.clip(xy[..., 1][confident], 0, masks.shape[1] - 1)
        grown = np.stack([_dilate(m, 6) for m in masks])
        assert grown[t_idx, ys, xs].mean() > 0.9  # confident keypoints fall on the person
        depth = sample.depth
        assert np.isfinite(depth[masks]).mean() > 0.9 and np.isnan(depth[~masks]).all()


def _dilate(mask: np.ndarray, radius: int) -> np.ndarray:
    import cv2

    kernel = np.ones((2 * radius + 1, 2 * radius + 1), np.uint8)
    return cv2.dilate(mask.astype(np.uint8), kernel) > 0
