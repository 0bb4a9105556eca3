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


def test_the_vlm_runs_on_every_keyframe_and_the_oracle_boxes_prompt_sam2(tmp_path):
    out = tmp_path / "report.json"
    assert main(["--tiny", "--vlm", "--vlm-tokens", "4", "--videos", "1", "--seconds", "1.2", "--size", "64x96",
                 "--actors", "1", "--clip-actors", "1", "--sam2-threshold=-1e9", "--keyframes", "3",
                 "--localise-actors", "1", "--work", str(tmp_path / "work"), "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["clips_annotated"] == 2 and report["vlm"].startswith("qwen2.5_vl_7b, 4 tokens")
    assert report["localise_actors"] == 1 and report["stage_worker_s"]["localise"] > 0  # its own stage
    samples = [s for tar in list_shards(tmp_path / "work" / "out" / "shards") for s in iter_samples(tar)]
    assert len(samples) == report["clips_written"] > 0
    for sample in samples:
        assert sample.meta.annotators["localise"].startswith("bench_vlm_oracle")
        assert set(sample.meta.boxes["person"]) == {"0", "3", "6"}  # the oracle's boxes on the 3 keyframes


def test_the_vlm_localiser_asks_the_model_about_each_keyframe_and_answers_with_the_oracle(tmp_path):
    import numpy as np

    from dataset.synthetic import SynthConfig, write_crawl
    from preprocess.annotators import Clip
    from preprocess.annotators.oracle import OracleLocalise
    from tools.bench_pipeline import VlmCostOracleBoxes, write_vlm

    write_crawl(tmp_path / "crawl", SynthConfig(seed=0, num_videos=1, height=64, width=96, num_frames=8, fps=15.0))
    (video,) = (tmp_path / "crawl" / "videos").glob("*.mp4")
    clip = Clip("c", np.zeros((8, 64, 96, 3), np.uint8), 15.0, str(video), video.stem, 0)
    folder = write_vlm(tmp_path / "vlm", tiny=True)
    backend = VlmCostOracleBoxes(keyframe_every=4, answer_tokens=3, model=str(folder), num_keyframes=3, device="cpu")
    (found,) = backend([clip])
    assert backend.keyframes_asked == 3
    assert backend.model.min_new_tokens == backend.model.max_new_tokens == 3
    expected = OracleLocalise(keyframe_every=4)([clip])[0]
    assert found.person == expected.person and [t.boxes for t in found.objects] == [t.boxes for t in expected.objects]
