"""The step profile's accounting: busy time, kernels and idle stretches charged to the host's named ranges."""

import warnings
from pathlib import Path

import pytest

from tools.step_profile import (NOT_LAUNCHED, SYNC_WARNING, busy_us, gpu_time_by_range, idle_by_gap_size, idle_by_range,
                                idle_gaps, kernel_kind, kernel_table, launch_times, synchronizing_calls)


def test_busy_time_is_the_union_of_kernel_intervals():
    assert busy_us([(0, 10), (5, 15), (20, 30), (21, 22)]) == 25  # overlaps counted once, gaps not at all
    assert busy_us([]) == 0


def test_kernels_are_charged_to_the_range_open_when_they_were_launched():
    windows = {"forward": [(0, 10), (100, 110)], "backward": [(10, 30)]}
    launches = [(1, 5.0), (9.5, 1.0), (10, 2.0), (29, 3.0), (30, 7.0), (105, 4.0), (-1, 0.5)]
    assert gpu_time_by_range(launches, windows) == {"forward": 10.0, "backward": 5.0, "other": 7.5}


def test_kernel_names_fall_into_families_and_tables_rank_them_per_range():
    assert kernel_kind("sm90_xmma_fprop_implicit_gemm_bf16bf16_bf16f32_f32_nhwckrsc_nhwc") == "convolution"
    assert kernel_kind("sm90_xmma_dgrad_implicit_gemm_bf16") == "convolution"
    assert kernel_kind("cudnn_generated_fort_native_sdpa_sm90_flash_bprop_wgmma_f16") == "attention"
    assert kernel_kind("void cudnn::engines_precompiled::nchwToNhwcKernel<__nv_bfloat16>") == "layout"
    assert kernel_kind("nvjet_tst_128x256_64x4_1x2_h_bz_coopA_NTN") == "matmul"
    assert kernel_kind("triton_red_fused_convolution_native_group_norm_2") == "triton"
    assert kernel_kind("void at::native::vectorized_elementwise_kernel<4>") == "other"
    windows = {"forward": [(0, 10)], "backward": [(10, 20)]}
    kernels = [(1, "triton_a", 4000.0), (2, "triton_a", 2000.0), (3, "sm90_xmma_fprop_x", 1000.0),
               (12, "nvjet_y", 8000.0), (30, "elementwise", 500.0)]
    table = kernel_table(kernels, windows, steps=2, top=1)
    assert table["forward"]["kinds"] == {"triton": 3.0, "convolution": 0.5}  # ms a step, costliest first
    assert table["forward"]["names"] == [{"name": "triton_a", "ms": 3.0, "calls": 1.0}]
    assert table["backward"]["kinds"] == {"matmul": 4.0} and table["other"]["kinds"] == {"other": 0.25}
    every = kernel_table(kernels, windows, steps=2, top=0)
    assert [k["name"] for k in every["forward"]["names"]] == ["triton_a", "sm90_xmma_fprop_x"]  # 0: all


def test_the_gpu_idle_before_some_work_is_charged_to_the_range_that_launched_it():
    windows = {"conditioning": [(0, 50)], "forward": [(50, 60)], "backward": [(60, 70)]}
    timeline = [  # (start, end, launch) on the GPU's clock, in the order the GPU ran them
        (100, 140, 10),  # conditioning's first kernel: the wait before the first record is not counted
        (145, 150, 20),  # 5 idle: the host was late with conditioning's next launch
        (150, 190, 55),  # the forward's kernel follows without a gap
        (160, 170, 56),  # on another stream, inside the forward's: no gap
        (200, 230, 65),  # 10 idle before the backward's kernel
        (231, 232, NOT_LAUNCHED),  # 1 idle before a record no host op was tied to
    ]
    assert idle_by_range(timeline[::-1], windows) == {"conditioning": 5, "backward": 10, "other": 1}
    assert idle_by_range(timeline, windows, since=60) == {"backward": 10}  # launched in the first step: left out
    assert idle_by_range([], windows) == {}
    # the stretches themselves: (length, index of the record that ended it in the given order)
    assert sorted(idle_gaps(timeline)) == [(1, 5), (5, 1), (10, 4)]
    assert idle_by_gap_size([(5, 1), (10, 4), (1, 5), (250, 0), (4000, 2)]) == {
        "under_10us": 6, "10us_to_100us": 10, "100us_to_1ms": 250, "over_1ms": 4000}


def test_a_gpu_record_is_launched_by_its_runtime_call_else_by_the_op_its_linked_id_names():
    runtime = {7: 100.0, 8: 130.0}  # cudaLaunchKernel / cudaGraphLaunch by correlation id
    ops = {7: 5.0, 3: 90.0}  # framework ops by their own ids: the same numbers mean other things
    records = [(7, 3), (8, 0), (9, 3), (10, 11)]  # (correlation id, linked correlation id)
    assert launch_times(records, runtime, ops) == [100.0, 130.0, 90.0, NOT_LAUNCHED]


def test_synchronizing_calls_are_counted_by_their_call_site_under_the_root_with_the_debug_mode_on_meanwhile():
    modes = []

    def step():  # warnings.warn(SYNC_WARNING) stands for a CUDA op that warns in sync debug mode
        assert modes == [True]
        for _ in range(3):
            warnings.warn(SYNC_WARNING)
        warnings.warn("another warning")  # not a synchronizing call
        warnings.warn(SYNC_WARNING + " (elsewhere)")

    found = synchronizing_calls(step, Path(__file__).parents[2], switch=modes.append)
    assert modes == [True, False]
    assert [f["calls"] for f in found] == [3, 1]
    assert all(f["where"].startswith("tests/tools/test_step_profile.py:") for f in found)
    assert found[0]["where"].endswith("warnings.warn(SYNC_WARNING)")  # the line that called the op
    assert found[1]["where"].endswith('warnings.warn(SYNC_WARNING + " (elsewhere)")')

    def failing():
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        synchronizing_calls(failing, Path(__file__).parents[2], switch=modes.append)
    assert modes[-1] is False  # the debug mode is switched off whatever happens
