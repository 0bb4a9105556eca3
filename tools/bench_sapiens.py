"""Sapiens pose and depth throughput at 1024x768 on one GPU, with the head's speed-ups as variants.

Full-size architectures with random weights, bf16. Per task: frames/s end to end (uint8 frames
on the host -> keypoints or masked depth on the host: crop, normalise, model, decode), the model
alone and the backbone alone on a ready device batch. Variants of the upsampling head
(:func:`preprocess.models.sapiens_infer.speed_up_head`): ``eager`` (NCHW), ``channels_last``,
``compiled`` (channels-last and ``torch.compile``). ``--profile`` prints the model's top kernels.
"""

from __future__ import annotations

import numpy as np

from tools.timing import sync, timed

VARIANTS = {"eager": (False, False), "channels_last": (True, False), "compiled": (True, True)}




def build(size: str, task: str, device, tiny: bool):
    import torch

    from preprocess.models.sapiens_vit import ARCHS, SapiensArch, build_sapiens

    arch, hw = (SapiensArch(32, 2, 2, 64), (64, 48)) if tiny else (ARCHS[size], (1024, 768))
    heads = {}
    if tiny:
        heads = {"head_deconv": (16, 16), "head_conv": (16, 16)} if task == "pose" else {"head_deconv": (8,) * 4, "head_conv": (8,)}
    with torch.device(device):  # random init straight on the GPU: a 1B model inits in seconds there
        model = build_sapiens(task, arch, hw, 308, **heads) if task == "pose" else build_sapiens(task, arch, hw, **heads)
    return model.to(torch.bfloat16).eval(), hw


def top_kernels(fn, device, count: int = 8) -> str:
    from torch.profiler import ProfilerActivity, profile

    activities = [ProfilerActivity.CUDA] if device.type == "cuda" else [ProfilerActivity.CPU]
    with profile(activities=activities) as prof:
        fn()
        sync(device)
    key = "cuda_time_total" if device.type == "cuda" else "cpu_time_total"
    return prof.key_averages().table(sort_by=key, row_limit=count, max_name_column_width=60)


def bench_task(size: str, task: str, frames: np.ndarray, batch: int, iters: int, device, tiny: bool,
               variants=("eager",), profile: bool = False) -> dict:
    import torch

    from preprocess.models.sapiens_infer import TopdownRunner, speed_up_head

    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
    n, h, w = frames.shape[:3]
    boxes = np.tile(np.array([[w * 0.3, h * 0.1, w * 0.6, h * 0.95]], np.float32), (n, 1))
    masks = np.zeros((n, h, w), bool)
    masks[:, int(h * 0.1) : int(h * 0.95), int(w * 0.3) : int(w * 0.6)] = True
    row = {"model": f"{size} {task}", "batch": batch}
    for variant in variants:
        channels_last, compile = VARIANTS[variant]
        model, hw = build(size, task, device, tiny)
        model = speed_up_head(model, channels_last, compile and device.type == "cuda")
        runner = TopdownRunner(model, hw, device, torch.bfloat16, batch_size=batch, fixed_batch=compile)
        x = torch.randn(batch, 3, *hw, device=device)
        if task == "pose":
            e2e = lambda: runner.keypoints(frames, boxes)  # noqa: E731
        else:
            e2e = lambda: runner.depth(frames, boxes, masks, (h // 2, w // 2))  # noqa: E731
        parts = {"end_to_end": (e2e, n), "model_only": (lambda: runner.forward(x), batch)}
        if variant == variants[0]:
            parts["backbone_only"] = (lambda: runner.forward_backbone(x), batch)
        for part, (fn, count) in parts.items():
            fn()  # warm-up (compiles the compiled variant)
            row[f"{variant}_{part}_fps" if part != "backbone_only" else "backbone_only_fps"] = round(count / timed(fn, device, iters), 2)
        if profile and variant == variants[0]:
            print(f"--- {size} {task} {variant}: top kernels of one model-only batch of {batch}\n{top_kernels(lambda: runner.forward(x), device)}")
        del model, runner
    best = max(row[f"{v}_end_to_end_fps"] for v in variants)
    row.update(input=f"{hw[0]}x{hw[1]}", end_to_end_fps=best, end_to_end_over_backbone=round(best / row["backbone_only_fps"], 3))
    if device.type == "cuda":
        row["peak_gib"] = round(torch.cuda.max_memory_allocated(device) / 2**30, 2)
    return row
