"""An awkward corpus through the Ray pipeline: one row per input with the expected reason, no crash."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from dataset.shards import iter_samples, list_shards
from dataset.synthetic import load_sidecar, sidecar_for
from preprocess.pipeline import run_preprocess

from .pipeline_corpus import make_awkward_corpus, pipeline_config

pytestmark = pytest.mark.timeout(240)


@pytest.fixture(scope="module")
def awkward_run(ray_cluster, tmp_path_factory):
    root = tmp_path_factory.mktemp("awkward")
    manifest, expected = make_awkward_corpus(root / "corpus")
    summary = run_preprocess(str(manifest), root / "out", pipeline_config())
    return root, summary, expected


def test_every_input_has_its_reason(awkward_run):
    root, summary, expected = awkward_run
    rows = pq.read_table(root / "out" / "inputs.parquet").to_pylist()
    got = {Path(r["source"]).name: (r["status"], r["reason"]) for r in rows}
    assert got == expected
    assert summary["videos_processed"] == len(expected)
    assert summary["videos_by_reason"]["failed/unreadable_container"] == 2


def test_rotated_clip_is_upright_and_exact(awkward_run):
    root, _, _ = awkward_run
    samples = {s.meta.source: s for tar in list_shards(root / "out" / "shards") for s in iter_samples(tar)}
    rotated = [s for src, s in samples.items() if src.endswith("rotated.mp4")]
    assert rotated and all((s.meta.height, s.meta.width) == (64, 48) for s in rotated)
    for sample in rotated:
        truth = load_sidecar(sidecar_for(sample.meta.source))
        frames = np.asarray(sample.meta.extra["source_frames"])
        upright = np.rot90(truth.character_mask[frames], 1, axes=(1, 2))[:, 1::2, 1::2]
        np.testing.assert_array_equal(sample.character_mask, upright)
        kp = truth.keypoints[frames]
        x, y = kp[..., 1], (128 - 1) - kp[..., 0]  # a quarter turn counter-clockwise of a 128-wide frame
        np.testing.assert_allclose(sample.keypoints[..., 0], (x + 0.5) / 2 - 0.5, atol=1e-4)
        np.testing.assert_allclose(sample.keypoints[..., 1], (y + 0.5) / 2 - 0.5, atol=1e-4)


def test_variable_frame_rate_resampled_by_time(awkward_run):
    root, _, _ = awkward_run
    vfr = [s for tar in list_shards(root / "out" / "shards") for s in iter_samples(tar)
           if s.meta.source.endswith("vfr.mp4")]
    assert vfr and all(s.meta.fps == 4.0 for s in vfr)
    # Frame times 0, .09, .18, .38, .47, .56, .76 s: the 4 fps grid 0, .25, .5, .75 s (less half a
    # source frame) takes frames 0, 3, 4, 6: chosen by timestamp, not by counting frames.
    frames = vfr[0].meta.extra["source_frames"]
    assert frames[:4] == [0, 3, 4, 6]
    truth = load_sidecar(sidecar_for(vfr[0].meta.source))
    np.testing.assert_array_equal(vfr[0].character_mask, truth.character_mask[np.asarray(frames)][:, 1::2, 1::2])


def test_summary_json_counts_match_table(awkward_run):
    root, _, expected = awkward_run
    summary = json.loads((root / "out" / "summary.json").read_text())
    assert sum(summary["videos_by_status"].values()) == len(expected)
    assert summary["clips_rejected_by_reason"] == {"no_person": 2}
