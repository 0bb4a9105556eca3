"""The VLM benchmark runs GroundingVLM on a toy Qwen2.5-VL and its figures add up."""

import json

import pytest
import torch

from tools.bench_annotators import main
from tools.bench_vlm import bench_vlm


def test_tiny_vlm_bench_counts_every_keyframe_and_token():
    row = bench_vlm(torch.device("cpu"), tiny=True, batch=3, max_new_tokens=5, image_hw=(40, 60), repeat=2)
    assert row["keyframes"] == 3 * 2  # every keyframe of every timed call came back
    assert row["answer_tokens"] == [5]  # no answer stopped early, none ran long
    # the released image settings: 40x60 is under the 56*56 pixel minimum, so it grows, in steps of 28 (patch 14, merge 2)
    assert row["model_image"] == "56x84" and row["image_tokens"] == 2 * 3
    assert row["prefill_tokens"] > row["image_tokens"] + 60  # the grounding prompt and chat turns
    # timings on a loaded CPU are noise; what must hold is how the figures are derived from each other
    assert row["prefill_s"] > 0 and row["call_s"] > 0
    assert row["decode_ms_per_token"] == pytest.approx((row["call_s"] - row["prefill_s"]) / 4 * 1000, abs=0.1)
    assert row["keyframes_per_s"] == pytest.approx(3 / row["call_s"], rel=1e-2)


def test_vlm_bench_through_the_annotator_cli(tmp_path):
    out = tmp_path / "bench.json"
    assert main(["--tiny", "--sam2", "", "--sapiens", "", "--vlm", "qwen2.5_vl_7b", "--vlm-batch", "2",
                 "--vlm-tokens", "3", "--frame-size", "30x50", "--out", str(out)]) == 0
    (row,) = json.loads(out.read_text())["vlm"]
    assert row["model"] == "qwen2.5_vl_7b (tiny)" and row["batch"] == 2 and row["keyframes"] == 4
    assert row["answer_tokens"] == [3]


def test_vlm_bench_rejects_unknown_models_and_answers_too_short_to_split():
    with pytest.raises(ValueError, match="qwen2.5_vl_7b"):
        bench_vlm(torch.device("cpu"), tiny=True, batch=1, max_new_tokens=4, name="llava")
    with pytest.raises(ValueError, match="max_new_tokens"):
        bench_vlm(torch.device("cpu"), tiny=True, batch=1, max_new_tokens=1)
