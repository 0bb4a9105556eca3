"""Which steps a training benchmark times, across the processes of a distributed run.

``bench-train`` times a window of steps after its warm-up; a step in which some process compiled
a graph opens the window again, so that compilation never enters the figures. The processes
share their counts of compiled graphs over a gloo group, on the host, without waiting for the GPU,
open the window together, and pool what they measured into one report. On a GPU, CUDA events
time the window's steps on the GPU's own clock as well.
"""

from __future__ import annotations


class TimedWindow:
    """Which steps the benchmark times: ``steps`` steps after ``warmup`` ones. A timed step in which
    some process compiled a graph (the VAE encoder meeting a new image count, say) opens the window
    again, at most ``max_restarts`` times: a compiling step takes seconds, and under DDP it holds
    every process at the next all-reduce, so the figures would measure compilation."""

    def __init__(self, warmup: int, steps: int, max_restarts: int):
        self.warmup, self.steps, self.max_restarts = warmup, steps, max_restarts
        self.start, self.restarts, self.graphs = warmup, 0, 0

    def after_step(self, done: int, graphs: int) -> str:
        """``done`` steps run, ``graphs`` compiled so far by all processes together: ``warm-up``,
        ``open`` (timing starts after this step), ``timed``, ``restart`` (timing starts again
        after this step) or ``done`` (the last timed step)."""
        if done < self.warmup:
            return "warm-up"
        if done == self.warmup:
            self.graphs = graphs
            return "done" if self.steps == 0 else "open"
        if graphs > self.graphs and self.restarts < self.max_restarts:
            self.start, self.graphs, self.restarts = done, graphs, self.restarts + 1
            return "restart"
        return "done" if done == self.start + self.steps else "timed"


class GpuClock:
    """The GPU's own time a step over the timed window, its first step left out.

    The window opens on an idle GPU (the host waited for the warm-up's last step), so its first
    step begins with the host launching into an empty queue, which a long run pays once. CUDA
    events recorded after the launches of the window's first step and of its last time the GPU
    from the end of the first to the end of the last: what a step takes once the host is ahead,
    idle stretches within the steps included. Nothing is timed on the CPU."""

    def __init__(self, cuda: bool, event=None):
        """``event``: the event type, ``torch.cuda.Event`` unless given."""
        self.cuda, self.event, self.first, self.last = cuda, event, None, None

    def _record(self):
        if self.event is None:
            import torch

            self.event = torch.cuda.Event
        event = self.event(enable_timing=True)
        event.record()
        return event

    def after_step(self, done: int, window: TimedWindow) -> None:
        """Call after ``window.after_step(done, ...)``, before waiting for the GPU."""
        if not self.cuda:
            return
        if done == window.start + 1:  # the first timed step (again, after a restart)
            self.first, self.last = self._record(), None
        if done == window.start + window.steps and self.first is not None:
            self.last = self._record()

    def step_s(self, steps: int) -> float | None:
        """Seconds a step from the first timed step's end to the last's (after a wait for the GPU);
        None on the CPU or with fewer than two timed steps."""
        if self.first is None or self.last is None or steps < 2:
            return None
        return self.first.elapsed_time(self.last) / 1e3 / (steps - 1)


def cpu_group():
    """A gloo process group over every process of a distributed run (None in one process): the
    benchmark's host-side counts travel through it without waiting for the GPU."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1):
        return None
    return dist.new_group(backend="gloo")


def together(group) -> None:
    """Return once every process of ``group`` got here (at once in one process): the timed window
    then opens at one moment everywhere, however long a process spent before it (the main process
    writing a compile cache of hundreds of MB, say, while the others would start their clocks and
    wait for it at the first all-reduce, their steps charged with the wait)."""
    import torch

    if group is not None:
        torch.distributed.barrier(group=group)


def graphs_everywhere(group) -> int:
    """Dynamo graphs compiled so far, summed over the processes of ``group`` (this one's if None)."""
    import torch

    from train.metrics import compiled_graphs

    if group is None:
        return compiled_graphs()
    count = torch.tensor([compiled_graphs()])
    torch.distributed.all_reduce(count, group=group)
    return int(count.item())


def across_processes(group, row: dict) -> dict:
    """``row`` (this process's figures) with those of every process of ``group`` (``row`` itself in
    one process): ``processes``, each one's step time in rank order, and the run's throughput, the
    sum over them (``samples_per_s_all``, ``frames_per_s_all``: what scaling efficiency compares)."""
    import torch

    if group is None:
        return row
    rows = [None] * torch.distributed.get_world_size(group)
    torch.distributed.all_gather_object(rows, row, group=group)
    return {**row, "processes": len(rows), "step_time_s_each": [r["step_time_s"] for r in rows],
            "samples_per_s_all": sum(r["samples_per_s"] for r in rows),
            "frames_per_s_all": sum(r["frames_per_s"] for r in rows)}
