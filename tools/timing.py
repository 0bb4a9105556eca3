"""Wall-clock timing of GPU work for the benchmarks: synchronise the device around the timed calls."""

from __future__ import annotations

import time


def sync(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn, device, repeat: int) -> float:
    """Mean seconds per call of ``fn`` over ``repeat`` calls, GPU work included."""
    sync(device)
    start = time.perf_counter()
    for _ in range(repeat):
        fn()
    sync(device)
    return (time.perf_counter() - start) / repeat
