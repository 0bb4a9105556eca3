"""The annotate stage without Ray: one bad clip fails alone in a batch; depth is stored reduced."""

from __future__ import annotations

import io
import shutil

import numpy as np
import pytest

from dataset.schema import dequantise_depth
from dataset.synthetic import load_sidecar, sidecar_for
from preprocess.catalog import Catalog
from preprocess.stages import AnnotateStage, ClipStage, ProbeStage

from .pipeline_corpus import make_crawl, pipeline_config

pytestmark = pytest.mark.timeout(120)


def clip_rows(folder, config):
    probe, clips = ProbeStage(config.probe, config.clips.min_frames), ClipStage(config.clips)
    try:
        return clips(probe(Catalog()(str(folder))))
    finally:
        probe.worker.close()
        clips.worker.close()


def test_batch_with_a_clip_lacking_ground_truth(tmp_path):
    make_crawl(tmp_path / "crawl", num_videos=1)
    video = next((tmp_path / "crawl" / "videos").glob("*.mp4"))
    (tmp_path / "crawl" / "videos" / "copy").mkdir()
    shutil.copy(video, tmp_path / "crawl" / "videos" / "copy" / "no_sidecar.mp4")  # not under videos/: no sidecar
    config = pipeline_config("annotate.depth_short_side=24", "annotate.batch_size=4")
    rows = clip_rows(tmp_path / "crawl" / "videos", config)
    assert len(rows) == 4
    out = AnnotateStage(config.annotate)(rows)
    by_source = {}
    for row in out:
        by_source.setdefault(row["source"].rsplit("/", 1)[-1], set()).add((row["status"], row["reason"]))
    assert by_source == {video.name: {("ok", "")}, "no_sidecar.mp4": {("failed", "no_sidecar")}}
    good = next(r for r in out if r["status"] == "ok")
    with np.load(io.BytesIO(good["depth_npz"])) as npz:
        depth = dequantise_depth(npz["depth"], *npz["range"])
    truth = load_sidecar(sidecar_for(good["source"]))
    frames = np.arange(good["start_frame"], good["start_frame"] + 12, 2)
    expected = truth.depth[frames][:, 3::4, 3::4]  # 96x128 -> 48x64 clip (rows 1, 3, ..) -> 24x32 depth (3, 7, ..)
    lo, hi = np.nanmin(expected), np.nanmax(expected)
    assert depth.shape == (6, 24, 32)
    np.testing.assert_allclose(depth, expected, atol=(hi - lo) / 254 / 2 + 1e-5)


def test_batch_whose_every_clip_fails_the_first_role(tmp_path):
    make_crawl(tmp_path / "crawl", num_videos=1)
    video = next((tmp_path / "crawl" / "videos").glob("*.mp4"))
    (tmp_path / "lonely").mkdir()
    shutil.copy(video, tmp_path / "lonely" / "no_sidecar.mp4")
    config = pipeline_config("annotate.batch_size=4")
    rows = clip_rows(tmp_path / "lonely", config)
    assert len(rows) == 2
    out = AnnotateStage(config.annotate)(rows)  # later roles get no clip at all: no crash, every row says why
    assert [(r["status"], r["reason"]) for r in out] == [("failed", "no_sidecar")] * 2
