"""Device, dtype and memory bookkeeping shared by the GPU backends."""

from __future__ import annotations

import logging

import torch

log = logging.getLogger(__name__)

DTYPES = {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}


def resolve_device(name: str) -> torch.device:
    """'auto' picks the current CUDA device when there is one, else the CPU."""
    if name == "auto":
        return torch.device("cuda", torch.cuda.current_device()) if torch.cuda.is_available() else torch.device("cpu")
    return torch.device(name)


def resolve_dtype(name: str) -> torch.dtype:
    if name not in DTYPES:
        raise ValueError(f"dtype {name!r} is not one of {sorted(DTYPES)}")
    return DTYPES[name]


def memory_mark(device: torch.device) -> int:
    if device.type != "cuda":
        return 0
    torch.cuda.synchronize(device)
    return torch.cuda.memory_allocated(device)


def log_setup_memory(what: str, device: torch.device, before: int) -> None:
    """Logged once per backend after ``setup()``: what its weights hold on the GPU."""
    if device.type == "cuda":
        held = (memory_mark(device) - before) / 2**30
        total = torch.cuda.get_device_properties(device).total_memory / 2**30
        log.info("%s on %s: %.2f GiB of GPU memory after setup (card %.0f GiB)", what, device, held, total)
    else:
        log.info("%s on %s", what, device)
