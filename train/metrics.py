"""Throughput numbers of a training run: step time, data wait, samples/s, FLOPs and MFU.

FLOPs are counted once, on a real step, with ``torch.utils.flop_counter.FlopCounterMode`` (every
module the step runs: frozen VAE and image encoder passes included, forward and backward). MFU
is counted FLOPs / step time / the accelerator's dense peak at the training precision.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import torch
from torch.utils.flop_counter import FlopCounterMode

# Dense (no sparsity) bf16/fp16 tensor-core peaks from the vendors' data sheets, TFLOP/s.
PEAK_TFLOPS_BF16 = {"H200": 989.4, "H100": 989.4, "A100": 312.0, "L40S": 362.1, "A10G": 70.0, "4090": 165.2}


def peak_tflops(device: torch.device, override: float | None = None) -> float | None:
    if override is not None:
        return override
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((v for k, v in PEAK_TFLOPS_BF16.items() if k in name), None)


def compiled_graphs() -> int:
    """Graphs Dynamo has compiled so far in this process (all compiled modules and functions):
    a count that still rises after a run's first steps means something compiles again."""
    from torch._dynamo.utils import counters

    return counters["stats"]["unique_graphs"]


def count_flops(fn) -> tuple[object, int]:
    """Run ``fn()`` under a FLOP counter; returns its result and the FLOPs it performed."""
    counter = FlopCounterMode(display=False)
    with counter:
        result = fn()
    return result, counter.get_total_flops()


def count_model_flops(model: torch.nn.Module, fn) -> tuple[object, int]:
    """:func:`count_flops` of ``fn()`` with ``model``'s packed motion-module attention run one
    sequence a row (:func:`model.temporal.unpacked`; the same results up to rounding): the model's
    FLOPs, not those of a packed row's masked products."""
    from model.temporal import unpacked

    with unpacked(model):
        return count_flops(fn)


@dataclass
class StepMeter:
    """Accumulates timing between two log points."""

    samples: int = 0
    frames: int = 0
    steps: int = 0
    wait_s: float = 0.0
    busy_s: float = 0.0
    _mark: float = field(default_factory=time.perf_counter)

    def data_ready(self) -> None:
        now = time.perf_counter()
        self.wait_s += now - self._mark
        self._mark = now

    def step_done(self, samples: int, frames: int) -> None:
        self.settle()
        self.samples += samples
        self.frames += frames
        self.steps += 1

    def settle(self) -> None:
        """Count the time since the last mark as step time (a step's host work, or the host's wait
        for the GPU to finish the window's steps when a figure is read)."""
        now = time.perf_counter()
        self.busy_s += now - self._mark
        self._mark = now

    def summary(self, flops_per_step: int | None, peak: float | None) -> dict[str, float]:
        total = max(self.wait_s + self.busy_s, 1e-9)
        steps = max(self.steps, 1)
        out = {
            "step_time_s": total / steps,
            "data_wait_fraction": self.wait_s / total,
            "samples_per_s": self.samples / total,
            "frames_per_s": self.frames / total,
        }
        if flops_per_step:
            out["tflops_per_s"] = flops_per_step * self.steps / total / 1e12
            if peak:
                out["mfu"] = out["tflops_per_s"] / peak
        return out

    def reset(self) -> None:
        self.samples = self.frames = self.steps = 0
        self.wait_s = self.busy_s = 0.0
        self._mark = time.perf_counter()


def peak_memory_gib(device: torch.device) -> float | None:
    if device.type != "cuda":
        return None
    return torch.cuda.max_memory_allocated(device) / 2**30
