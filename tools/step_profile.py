"""Where a training step's time goes: a few steps under ``torch.profiler``, read by named range.

The trainer names the parts of its step with ``record_function`` (:data:`RANGES`). Every GPU
record of the profile (kernels, copies, CUDA graph replays' kernels included) is tied to the host
call that launched it through the profiler's correlation ids (:func:`launch_times`), and charged
to the range that was open on the host at that launch. From that, per range: host time, GPU time
by kernel family and by kernel name, and the GPU's idle time before the range's work, which says
which part of the step leaves the GPU waiting for the host (a launch-bound stretch or a read-back
that drained the queue); and the idle time by the length of its stretches
(:func:`idle_by_gap_size`: many short ones are the latency between kernels, long ones a late
host). ``aa2 bench-train --profile N`` runs it after its timed steps. :func:`synchronizing_calls`
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
KERNELS_BY_NAME = 15  # kernels a range lists by name, the costliest first (bench-train --profile-kernels)


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


def idle_gaps(timeline: list[tuple[float, float, float]], since: float = float("-inf")) -> list[tuple[float, int]]:
    """The GPU's idle stretches: (length, index in ``timeline`` of the record that ended it).

    ``timeline`` holds (start, end, launch host time) of each GPU record. Between the first record
    and the last, every stretch in which nothing ran ends when some record starts; it is kept if
    that record was launched at ``since`` or later (the first profiled step starts on an idle GPU:
    its waits are left out). Records that overlap (several streams) leave no gap between them."""
    order = sorted(range(len(timeline)), key=lambda i: timeline[i])
    gaps, reach = [], None
    for i in order:
        start, end, launch = timeline[i]
        if reach is not None and start > reach and launch >= since:
            gaps.append((start - reach, i))
        reach = end if reach is None else max(reach, end)
    return gaps


def idle_by_range(timeline: list[tuple[float, float, float]], windows: dict[str, list[tuple[float, float]]],
                  since: float = float("-inf")) -> dict[str, float]:
    """GPU idle microseconds (:func:`idle_gaps`) charged to the range that launched the record the
    GPU then waited for (:func:`charge_to_ranges`)."""
    gaps = idle_gaps(timeline, since)
    out: dict[str, float] = {}
    for (us, _), where in zip(gaps, charge_to_ranges([timeline[i][2] for _, i in gaps], windows)):
        out[where] = out.get(where, 0.0) + us
    return out


GAP_SIZES = ((10.0, "under_10us"), (100.0, "10us_to_100us"), (1000.0, "100us_to_1ms"), (float("inf"), "over_1ms"))


def idle_by_gap_size(gaps: list[tuple[float, int]]) -> dict[str, float]:
    """Idle microseconds by the length of the stretch: many short ones are the GPU's own latency
    between kernels (fewer, larger kernels shorten them); long ones, a host that was late."""
    out = {name: 0.0 for _, name in GAP_SIZES}
    for us, _ in gaps:
        out[next(name for bound, name in GAP_SIZES if us < bound)] += us
    return out


def launch_times(device: list[tuple[int, int]], runtime: dict[int, float], ops: dict[int, float]) -> list[float]:
    """Host launch time of each GPU record, given as (correlation id, linked correlation id).

    The CUDA runtime call that launched a record (``cudaLaunchKernel``, ``cudaGraphLaunch`` for a
    replayed graph's kernels, ``cudaMemcpyAsync``) shares its correlation id (``runtime``: id ->
    start); failing that, the record's linked correlation id names the framework op that was
    running (``ops``: id -> start). Ids of the two kinds are counted apart, so they are looked up
    apart. :data:`NOT_LAUNCHED` where neither is known."""
    return [runtime.get(corr, ops.get(linked, NOT_LAUNCHED)) for corr, linked in device]


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
                 steps: int, top: int = KERNELS_BY_NAME) -> dict:
    """Per range, GPU milliseconds a step by kernel family and the ``top`` costliest kernels by
    name (ms a step, calls a step; ``top`` 0: every kernel); ``kernels`` are (launch host time,
    kernel name, microseconds)."""
    table: dict[str, dict] = {}
    for (_, name, us), where in zip(kernels, charge_to_ranges([t for t, _, _ in kernels], windows)):
        entry = table.setdefault(where, {"kinds": {}, "names": {}})
        kind = kernel_kind(name)
        entry["kinds"][kind] = entry["kinds"].get(kind, 0.0) + us / steps / 1e3
        ms, calls = entry["names"].get(name, (0.0, 0.0))
        entry["names"][name] = (ms + us / steps / 1e3, calls + 1 / steps)
    for entry in table.values():
        ranked = sorted(entry["names"].items(), key=lambda item: -item[1][0])[:top or None]
        entry["names"] = [{"name": name[:100], "ms": ms, "calls": calls} for name, (ms, calls) in ranked]
        entry["kinds"] = dict(sorted(entry["kinds"].items(), key=lambda item: -item[1]))
    return table


def _records(prof):
    """The profile's raw Kineto records, with the correlation ids that tie each GPU record to its
    launch (torch's ``FunctionEvent`` list keeps them only in recent versions): (host records,
    GPU records), each (name, start us, end us, correlation id, linked correlation id, annotation);
    the GPU's copies of the named ranges (annotations) are left out."""
    from torch.autograd import DeviceType

    host, device = [], []
    for e in prof.profiler.kineto_results.events():
        kind = e.device_type()
        if kind not in (DeviceType.CPU, DeviceType.CUDA):
            continue
        annotation = bool(getattr(e, "is_user_annotation", lambda: False)())
        record = (e.name(), e.start_ns() / 1e3, (e.start_ns() + e.duration_ns()) / 1e3, e.correlation_id(),
                  e.linked_correlation_id(), annotation)
        if kind == DeviceType.CPU:
            host.append(record)
        elif not annotation:
            device.append(record)
    return host, device


def profile_steps(trainer, batches, top: int = 12, kernels: int = KERNELS_BY_NAME, trace: Path | None = None) -> dict:
    """Run the batches under torch.profiler, one step each, without waiting for the GPU between
    them (as the training loop runs); where the steps' time goes (see the module docstring).
    ``kernels``: kernels listed by name per range (0: all, to compare two runs kernel by kernel).
    ``trace``: also write the profiler's timeline there (Chrome trace JSON, gzipped where the name
    ends in ``.gz``; Perfetto opens either), to see what the host does while the GPU waits."""
    import torch
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
    if trace is not None:
        trace.parent.mkdir(parents=True, exist_ok=True)
        prof.export_chrome_trace(str(trace))
        if hasattr(prof, "wait_for_exports"):  # newer torch may write the file from a thread
            prof.wait_for_exports()
    host, device = _records(prof)
    runtime = {corr: t0 for _, t0, _, corr, linked, _ in host if linked}  # runtime calls, tied to their op
    ops = {corr: t0 for _, t0, _, corr, linked, _ in host if not linked}
    launch = launch_times([(corr, linked) for _, _, _, corr, linked, _ in device], runtime, ops)
    n = len(batches)
    windows = {name: [(t0, t1) for h, t0, t1, *_ in host if h == name] for name in RANGES}
    windows = {name: w for name, w in windows.items() if w}
    named = [(t, name, t1 - t0) for t, (name, t0, t1, *_) in zip(launch, device)]
    gpu = gpu_time_by_range([(t, us) for t, _, us in named], windows)
    steps = sorted((t0, t1) for h, t0, t1, *_ in host if h == STEP)
    # from the second step on (the first starts on an idle GPU), as a long run steps
    since, counted = (steps[0][1], n - 1) if n > 1 and steps else (float("-inf"), n)
    timeline = [(t0, t1, t) for t, (_, t0, t1, *_) in zip(launch, device)]
    gaps = idle_gaps(timeline, since)
    idle = idle_by_range(timeline, windows, since)
    ranges = {name: {"host_s": sum(b - a for a, b in w) / n / 1e6, "gpu_s": gpu[name] / n / 1e6,
                     "gpu_idle_before_s": idle.get(name, 0.0) / counted / 1e6} for name, w in windows.items()}
    longest = sorted(gaps, reverse=True)[:top]
    where = charge_to_ranges([timeline[i][2] for _, i in longest], windows)
    table = prof.key_averages().table(sort_by="self_cuda_time_total" if cuda else "self_cpu_time_total", row_limit=top)
    busy = busy_us([(t0, t1) for _, t0, t1, *_ in device])
    # without windows every kernel falls in "other": the whole step's table
    whole = kernel_table(named, {}, n, top=kernels and max(kernels, 30))
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
            "gpu_idle_s_by_gap_size": {k: us / counted / 1e6 for k, us in idle_by_gap_size(gaps).items()},
            "gpu_gaps_per_step": len(gaps) / counted,
            # the longest stretches: the record the GPU waited for, its range, and the record that ran before
            "longest_gaps": [{"ms": us / 1e3, "range": r, "waiting_for": device[i][0][:80],
                              "after": _previous(timeline, device, i)[:80]} for (us, i), r in zip(longest, where)],
            "ranges": ranges, "kernels_by_range": kernel_table(named, windows, n, top=kernels), "kernels": whole.get("other"),
            "table": table}


def _previous(timeline, device, i: int) -> str:
    """Name of the record that ended last before record ``i`` started."""
    start = timeline[i][0]
    ended = [(end, j) for j, (_, end, _) in enumerate(timeline) if end <= start]
    return device[max(ended)[1]][0] if ended else ""


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
