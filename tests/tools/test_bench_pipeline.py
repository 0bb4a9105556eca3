"""The whole-pipeline benchmark runs the production backends (tiny random weights saved in their
released formats) through Ray on a synthetic crawl and writes valid shards."""

import json

import pytest

from dataset.shards import iter_samples, list_shards
from tools.bench_pipeline import main

pytestmark = pytest.mark.timeout(300)


def test_tiny_pipeline_benchmark_annotates_every_clip(tmp_path):
    out = tmp_path / "report.json"
    assert main(["--tiny", "--videos", "2", "--seconds", "1.2", "--size", "64x96", "--actors", "1", "--clip-actors", "1",
                 "--sam2-threshold=-1e9", "--keyframes", "3", "--work", str(tmp_path / "work"), "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["clips_annotated"] == 4  # 2 videos of 18 frames -> two 8-frame clips each
    assert report["clips_written"] + sum(report["clips_rejected_by_reason"].values()) == 4
    assert report["clips_per_gpu_hour"] > 0 and report["stage_worker_s"]["annotate"] > 0
    # the steady rate starts at the first annotated clip, after the cluster and the models came up
    assert report["clips_per_gpu_hour_steady"] > report["clips_per_gpu_hour"]
    assert min(report["annotate_s_by_part"].values()) > 0  # masks forced on: every model ran on every clip
    samples = [s for tar in list_shards(tmp_path / "work" / "out" / "shards") for s in iter_samples(tar)]
    assert len(samples) == report["clips_written"]
    for sample in samples:
        assert sample.meta.annotators["segment"].startswith("sam2") and sample.meta.keypoint_format == "goliath_308"
        assert set(sample.meta.boxes["person"]) == {"0", "3", "6"}  # 3 prompted keyframes of the 8-frame clip


def test_local_engine_gives_each_models_seconds_per_clip_and_the_bound(tmp_path):
    out = tmp_path / "report.json"
    assert main(["--tiny", "--engine", "local", "--videos", "2", "--seconds", "1.2", "--size", "64x96",
                 "--sam2-threshold=-1e9", "--work", str(tmp_path / "work"), "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["engine"] == "local" and report["clips_annotated"] == 4
    per_clip = report["model_s_per_clip"]
    assert set(per_clip) == {"localise", "segment", "pose", "depth"} and min(per_clip.values()) > 0
    # three clips after the first: their model seconds, and no more, make the bound
    parts = report["annotate_s_by_part_after_first_clip"]
    assert per_clip["segment"] == pytest.approx(parts["segment"] / 3, abs=1e-3)
    assert report["bound_clips_per_gpu_hour"] == pytest.approx(3600 / sum(per_clip.values()), rel=1e-3)
    assert sum(parts.values()) < sum(report["annotate_s_by_part"].values())
