"""The model benchmark runs end to end on a tiny architecture and counts real FLOPs."""

from __future__ import annotations

import argparse

import torch

from tools.bench_model import BenchCase, add_arguments, build_cases, run_case


def tiny_args(*extra: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(["--device", "cpu", "--tiny", "--latent", "8", "--frames", "2", "--warmup", "0",
                              "--steps", "1", *extra])


def test_cases_cover_baseline_video_and_image_with_and_without_checkpointing():
    args = tiny_args("--batches", "1", "2", "--stage1-batches", "4", "--compile-batches", "1")
    names = [c.name for c in build_cases(args)]
    assert names == ["sd15_unet_b16_f1", "aa2_stage2_b1_f2", "aa2_stage2_b1_f2_ckpt", "aa2_stage2_b2_f2",
                     "aa2_stage2_b2_f2_ckpt", "aa2_stage1_b4_f1", "aa2_stage1_b4_f1_ckpt",
                     "aa2_stage2_b1_f2_compiled"]


def test_tiny_cases_measure_a_training_step():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        args = tiny_args()
        video = run_case(BenchCase("aa2", 2, 1, 2, True), args)
        baseline = run_case(BenchCase("baseline", 0, 2, 1, False), args)
    finally:
        torch.set_num_threads(threads)
    assert "error" not in video and "error" not in baseline
    assert 0 < video["trained_params_M"] < video["total_params_M"]
    assert video["flop_per_step"] > 0 and video["step_s"] > 0
    assert baseline["trained_params_M"] == baseline["total_params_M"]
