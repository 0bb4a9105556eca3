"""Where a training step's time goes: a few steps under ``torch.profiler``, read by named range.

The trainer names the parts of its step with ``record_function`` (:data:`RANGES`). Every GPU
record of the profile (kernels, copies, CUDA graph replays' kernels included) is tied to the host
op that launched it through the profiler's correlation ids, and charged to the range that was
open on the host at that launch. From that, per range: host time, GPU time by kernel family and
by kernel name, and the GPU's idle time before the range's work, which says which part of the
step leaves the GPU waiting for the host (a launch-bound stretch or a read-back that drained the
queue). ``aa2 bench-train --profile N`` runs it after its timed steps. :func:`synchronizing_calls`
finds the other cause of an idle GPU, a host that waits for it, by call site
(``aa2 bench-train --sync-check N``).
"""

from __future__ import annotations

import bisect
import re
import time
import traceback
import warnings
from collections import Counter
from pathlib import Path

RANGES = ("conditioning", "forward", "loss", "backward", "clip_grad", "optimizer", "ema")

STEP = "profiled_step"  # each profiled step's host range
NOT_LAUNCHED = float("-inf")  # launch time of a GPU record whose host op the profiler did not tie to it


def busy_us(intervals: list[tuple[float, float]]) -> float:
    """Length of the union of [start, end) intervals."""
    total, reach = 0.0, float("-inf")
    for start, end in sorted(intervals):
        if end > reach:
            total += end - max(start, reach)
            reach = end
    return total


def charge_to_ranges(times: list[float], windows: dict[str, list[tuple[float, float]]]) -> list[str]:
    """The range each launch (host time of the launching op) is charged to: the range that was open
    on the host when its op ran, else ``other``. Kernels run later than they are launched (and
    backward's ops run on autograd's own thread), so launch times, not kernel times, decide.
    Ranges do not nest here; the first that holds a launch takes it."""
    spans = sorted((a, b, name) for name, ws in windows.items() for a, b in ws)
    starts = [a for a, _, _ in spans]
    out = []
    for t in times:
        i = bisect.bisect_right(starts, t) - 1
        out.append(spans[i][2] if i >= 0 and t < spans[i][1] else "other")
    return out


def gpu_time_by_range(launches: list[tuple[float, float]], windows: dict[str, list[tuple[float, float]]]) -> dict:
    """Kernel time per named range: ``launches`` are (host time of the launching op, kernel
    microseconds), ``windows`` the host intervals of each range (see :func:`charge_to_ranges`)."""
    out = {name: 0.0 for name in windows} | {"other": 0.0}
    for (_, us), name in zip(launches, charge_to_ranges([t for t, _ in launches], windows)):
        out[name] += us
    return out


def idle_by_range(timeline: list[tuple[float, float, float]], windows: dict[str, list[tuple[float, float]]],
                  since: float = float("-inf")) -> dict[str, float]:
    """GPU idle microseconds charged to the range whose work the GPU then waited for.

    ``timeline`` holds (start, end, launch host time) of each GPU record. Between the first record
    and the last, every stretch in which nothing ran ends when some record starts; the stretch is
    charged to the range that launched that record (:func:`charge_to_ranges`), if the record was
    launched at ``since`` or later (the first profiled step starts on an idle GPU: its waits are
    left out). Records that overlap (several streams) leave no gap between them."""
    ordered = sorted(timeline)
    charged = charge_to_ranges([launch for _, _, launch in ordered], windows)
    out: dict[str, float] = {}
    reach = None
    for (start, end, launch), where in zip(ordered, charged):
        if reach is not None and start > reach and launch >= since:
            out[where] = out.get(where, 0.0) + start - reach
        reach = end if reach is None else max(reach, end)
    return out


# kernel families, by name (cuDNN, cuBLAS, FlashAttention, Inductor); the first pattern that matches wins
KERNEL_KINDS = (
    ("triton", re.compile(r"^triton_")),  # Inductor names them after the ops they fuse ("convolution", ...)
    ("attention", re.compile(r"sdpa|flash|fmha|attention", re.I)),
    ("convolution", re.compile(r"fprop|dgrad|wgrad|conv", re.I)),
    ("layout", re.compile(r"nchwToNhwc|nhwcToNchw|transpose", re.I)),
    ("matmul", re.compile(r"gemm|nvjet|cutlass", re.I)),
)


def kernel_kind(name: str) -> str:
    return next((kind for kind, pattern in KERNEL_KINDS if pattern.search(name)), "other")


def kernel_table(kernels: list[tuple[float, str, float]], windows: dict[str, list[tuple[float, float]]],
                 steps: int, top: int = 15) -> dict:
    """Per range, GPU milliseconds a step by kernel family and the costliest kernels by name
    (ms a step, calls a step); ``kernels`` are (launch host time, kernel name, microseconds)."""
    table: dict[str, dict] = {}
    for (_, name, us), where in zip(kernels, charge_to_ranges([t for t, _, _ in kernels], windows)):
        entry = table.setdefault(where, {"kinds": {}, "names": {}})
        kind = kernel_kind(name)
        entry["kinds"][kind] = entry["kinds"].get(kind, 0.0) + us / steps / 1e3
        ms, calls = entry["names"].get(name, (0.0, 0.0))
        entry["names"][name] = (ms + us / steps / 1e3, calls + 1 / steps)
    for entry in table.values():
        ranked = sorted(entry["names"].items(), key=lambda item: -item[1][0])[:top]
        entry["names"] = [{"name": name[:100], "ms": ms, "calls": calls} for name, (ms, calls) in ranked]
        entry["kinds"] = dict(sorted(entry["kinds"].items(), key=lambda item: -item[1]))
    return table


def profile_steps(trainer, batches, top: int = 12) -> dict:
    """Run the batches under torch.profiler, one step each, without waiting for the GPU between
    them (as the training loop runs); where the steps' time goes (see the module docstring)."""
    import torch
    from torch.autograd import DeviceType
    from torch.profiler import ProfilerActivity, profile, record_function

    cuda = trainer.accelerator.device.type == "cuda"
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    with profile(activities=activities) as prof:
        start = time.perf_counter()
        for batch in batches:
            with record_function(STEP):
                trainer.train_step(batch)
        if cuda:
            torch.cuda.synchronize()
        wall = time.perf_counter() - start
    events = prof.events()
    # kernels and copies; not the GPU spans that torch.profiler draws for the named ranges
    device = [e for e in events if e.device_type == DeviceType.CUDA and not e.is_user_annotation]
    # a GPU record's linked correlation id names the host op that launched it (a replayed CUDA
    # graph's kernels: the op that replayed it)
    launched_at = {e.id: e.time_range.start for e in events
                   if e.device_type == DeviceType.CPU and getattr(e, "linked_correlation_id", 0) == 0 and e.id > 0}
    launch = [launched_at.get(getattr(e, "linked_correlation_id", 0), NOT_LAUNCHED) for e in device]
    n = len(batches)
    windows = {name: [(h.time_range.start, h.time_range.end) for h in events
                      if h.name == name and h.device_type == DeviceType.CPU] for name in RANGES}
    windows = {name: w for name, w in windows.items() if w}
    named = [(t, e.name, e.time_range.elapsed_us()) for t, e in zip(launch, device)]
    gpu = gpu_time_by_range([(t, us) for t, _, us in named], windows)
    steps = sorted((e.time_range.start, e.time_range.end) for e in events
                   if e.name == STEP and e.device_type == DeviceType.CPU)
    # from the second step on (the first starts on an idle GPU), as a long run steps
    since, counted = (steps[0][1], n - 1) if n > 1 and steps else (float("-inf"), n)
    idle = idle_by_range([(e.time_range.start, e.time_range.end, t) for t, e in zip(launch, device)], windows, since)
    ranges = {name: {"host_s": sum(b - a for a, b in w) / n / 1e6, "gpu_s": gpu[name] / n / 1e6,
                     "gpu_idle_before_s": idle.get(name, 0.0) / counted / 1e6} for name, w in windows.items()}
    table = prof.key_averages().table(sort_by="self_cuda_time_total" if cuda else "self_cpu_time_total", row_limit=top)
    busy = busy_us([(e.time_range.start, e.time_range.end) for e in device])
    # without windows every kernel falls in "other": the whole step's table
    whole = kernel_table(named, {}, n, top=30)
    return {"steps": n, "wall_s_per_step": wall / n, "gpu_busy_s_per_step": busy / n / 1e6,
            "gpu_busy_fraction": busy / 1e6 / wall if cuda else None,
            # more than the busy time where kernels ran at once (on several streams)
            "kernel_s_per_step": sum(us for _, _, us in named) / n / 1e6,
            "gpu_s_outside_ranges": gpu["other"] / n / 1e6,
            # records the profiler did not tie to a host op (charged to "other"): a check on the split
            "gpu_s_not_tied": sum(us for t, _, us in named if t == NOT_LAUNCHED) / n / 1e6,
            # the GPU waiting for work launched after the first step (idle_by_range), a step
            "gpu_idle_s_per_step": sum(idle.values()) / counted / 1e6,
            "gpu_idle_outside_ranges_s": idle.get("other", 0.0) / counted / 1e6,
            "ranges": ranges, "kernels_by_range": kernel_table(named, windows, n), "kernels": whole.get("other"),
            "table": table}


SYNC_WARNING = "called a synchronizing CUDA operation"  # what CUDA's sync debug mode warns


def _cuda_sync_debug(on: bool) -> None:
    import torch

    torch.cuda.set_sync_debug_mode("warn" if on else "default")


def synchronizing_calls(run, root: Path, switch=_cuda_sync_debug) -> list[dict]:
    """Run ``run()`` with CUDA's sync debug mode on (``switch(True)``, then ``switch(False)``):
    every operation that made the host wait for the GPU (a read-back, a copy to pageable memory,
    an op whose output size depends on the data), counted by call site, the innermost frame in a
    file under ``root``: ``[{"where": "train/x.py:12 code", "calls": n}]``, most frequent first.
    Operations on autograd's own thread (the backward's) are not seen."""
    found: Counter = Counter()
    root = str(Path(root).resolve())

    def record(message, category, filename, lineno, file=None, line=None):
        if SYNC_WARNING not in str(message):
            return
        frames = [f for f in traceback.extract_stack()[:-1] if f.filename.startswith(root)]
        where = (f"{Path(frames[-1].filename).relative_to(root)}:{frames[-1].lineno} {frames[-1].line}" if frames
                 else f"{filename}:{lineno}")
        found[where] += 1

    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.showwarning = record  # restored with the filters on leaving
        switch(True)
        try:
            run()
        finally:
            switch(False)
    return [{"where": where, "calls": calls} for where, calls in found.most_common()]
