"""The synthetic crawl through the oracle on Ray: shards must hold the exact ground truth."""

from __future__ import annotations

import json

import numpy as np
import pytest

from dataset.schema import depth_tolerance, quantise_depth
from dataset.shards import iter_samples, list_shards, read_manifests
from dataset.synthetic import load_sidecar, sidecar_for
from dataset.video import decode_mp4
from preprocess.catalog import canonical_source, video_id_of
from preprocess.pipeline import run_preprocess

from .pipeline_corpus import EXPECTED_STARTS, SYNTH, make_crawl, pipeline_config

pytestmark = pytest.mark.timeout(240)


@pytest.fixture(scope="module")
def oracle_run(ray_cluster, tmp_path_factory):
    root = tmp_path_factory.mktemp("oracle")
    manifest = make_crawl(root / "crawl")
    summary = run_preprocess(str(manifest), root / "out", pipeline_config("write.max_shard_bytes=80000"))
    return root, summary


def expected_truth(sidecar, source_frames, turns=0):
    """Ground truth at the clip's frames and size: 96x128 halved by nearest-neighbour (rows 1, 3, ...)."""
    t = np.asarray(source_frames)
    character = np.rot90(sidecar.character_mask[t], turns, axes=(1, 2))[:, 1::2, 1::2]
    depth = np.rot90(sidecar.depth[t], turns, axes=(1, 2))[:, 1::2, 1::2]
    return character, depth


def test_shards_equal_ground_truth(oracle_run):
    root, summary = oracle_run
    assert summary["videos_by_status"] == {"ok": SYNTH.num_videos}
    samples = [s for tar in list_shards(root / "out" / "shards") for s in iter_samples(tar)]
    assert len(samples) == SYNTH.num_videos * len(EXPECTED_STARTS) == summary["clips"]
    parts = summary["annotate_seconds_by_part"]  # where the annotate stage's time went, summed over clips
    assert set(parts) == {"decode", "localise", "segment", "pose", "depth", "encode"}
    assert min(parts.values()) > 0
    assert sum(parts.values()) <= summary["stages"]["annotate"]["worker_seconds"] * 1.01 + 0.01
    for sample in samples:
        sidecar = load_sidecar(sidecar_for(sample.meta.source))
        frames = sample.meta.extra["source_frames"]
        assert frames == list(range(sample.meta.start_frame, sample.meta.start_frame + 12, 2))
        character, depth = expected_truth(sidecar, frames)
        np.testing.assert_array_equal(sample.character_mask, character)
        objects = sidecar.object_masks[np.asarray(frames)][:, :, 1::2, 1::2]
        np.testing.assert_array_equal(sample.object_masks, objects)
        assert sample.meta.object_labels == list(sidecar.object_labels)
        kp = sidecar.keypoints[np.asarray(frames)]
        np.testing.assert_allclose(sample.keypoints[..., :2], (kp[..., :2] + 0.5) / 2 - 0.5, atol=1e-4)
        np.testing.assert_array_equal(sample.keypoints[..., 2], kp[..., 2])
        _, lo, hi = quantise_depth(depth)
        np.testing.assert_allclose(sample.depth, depth, atol=depth_tolerance(lo, hi))
        video = decode_mp4(sample.video, size=(sample.meta.height, sample.meta.width))
        assert video.shape == (6, 48, 64, 3) and sample.meta.fps == 4.0


def test_keys_ids_and_shard_layout(oracle_run):
    root, _ = oracle_run
    table = read_manifests(root / "out" / "shards")
    sources = sorted((root / "crawl" / "videos").glob("*.mp4"))
    expected = sorted(f"{video_id_of(canonical_source(str(p)))}_{s:06d}" for p in sources for s in EXPECTED_STARTS)
    assert sorted(table.column("key").to_pylist()) == expected
    shards = list_shards(root / "out" / "shards")
    assert len(shards) > 1  # the 80 kB cap split the run
    for tar in shards:  # keys sorted within a shard; a video never straddles two shards
        keys = [s.key for s in iter_samples(tar)]
        assert keys == sorted(keys)
    per_video = {}
    for key, shard in zip(table.column("key").to_pylist(), table.column("shard").to_pylist()):
        per_video.setdefault(key.rsplit("_", 1)[0], set()).add(shard)
    assert all(len(s) == 1 for s in per_video.values())


def test_summary_and_run_table(oracle_run):
    root, summary = oracle_run
    written = json.loads((root / "out" / "summary.json").read_text())
    assert written["clips"] == summary["clips"] == 8 and written["frames"] == 48
    assert all(written["stages"][s]["items"] > 0 for s in ("probe", "clips", "annotate", "qualify"))
    import pyarrow.parquet as pq

    inputs = pq.read_table(root / "out" / "inputs.parquet").to_pylist()
    assert [r["status"] for r in inputs] == ["ok"] * SYNTH.num_videos
    assert all(r["clips_ok"] == 2 for r in inputs)
