"""Compiled code kept beside a run: Inductor's artifacts saved to one file and loaded at start.

``torch.compile`` caches what it generates (FX graphs, AOTAutograd graphs, Triton kernels,
autotuning results) on the local disk, so a second compile of the same graphs on the same
machine takes a fraction of the first. A run restarted elsewhere (another node, a wiped
``/tmp``, a preempted job) starts with an empty cache and compiles from scratch: minutes for
the AA2 model. ``torch.compiler.save_cache_artifacts`` serialises everything compiled in this
process into one blob and ``load_cache_artifacts`` puts a blob back into the local caches
before anything compiles; entries are keyed by graph, torch version and device, so a blob from
another setting only misses. Inductor's key includes the card's name, so a file serves one kind of
card: :func:`cache_file` names the file after it.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

import torch

log = logging.getLogger(__name__)


def device_kind(device: torch.device) -> str:
    """The kind of card compiled code is for, fit for a file name: ``cpu``, ``NVIDIA-H100-80GB-HBM3``."""
    if device.type != "cuda":
        return device.type
    return re.sub(r"[^A-Za-z0-9.]+", "-", torch.cuda.get_device_name(device)).strip("-")


def cache_file(template: str, device: torch.device) -> str:
    """``model.compile_cache`` with ``{device}`` replaced by :func:`device_kind`."""
    return template.format(device=device_kind(device))


def load_compile_cache(path: Path) -> int:
    """Put the artifacts saved at ``path`` into the local compile caches; returns how many (0 if none)."""
    if not path.is_file():
        return 0
    try:
        info = torch.compiler.load_cache_artifacts(path.read_bytes())
    except Exception as error:  # the cache only saves time: a run never stops for it
        log.warning("compile cache %s not loaded (%s); compiling from scratch", path, error)
        return 0
    if info is None:  # unreadable (another torch version's format): the run compiles from scratch
        log.warning("compile cache %s could not be read; compiling from scratch", path)
        return 0
    groups = getattr(info, "artifacts", None)  # artifact type -> keys; older releases: one list per type
    lists = groups.values() if isinstance(groups, dict) else [v for v in vars(info).values() if isinstance(v, list)]
    count = sum(len(keys) for keys in lists)
    log.info("compile cache: %d artifacts loaded from %s", count, path)
    return count


def save_compile_cache(path: Path) -> int:
    """Write every artifact compiled in this process so far to ``path`` (atomically); returns the
    bytes written (0 when nothing was compiled with a caching backend such as Inductor)."""
    try:
        saved = torch.compiler.save_cache_artifacts()
        if saved is None:
            return 0
        blob = saved[0]
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_bytes(blob)
        os.replace(tmp, path)
    except Exception as error:  # the cache only saves time: training goes on without it
        log.warning("compile cache not saved to %s (%s)", path, error)
        return 0
    counters = torch._dynamo.utils.counters
    inductor, aot = counters["inductor"], counters["aot_autograd"]
    log.info("compile cache: %d bytes saved to %s (Inductor graphs so far: %d from the cache, %d generated; "
             "AOTAutograd graphs: %d from the cache, %d traced, %d not cacheable)", len(blob), path,
             inductor["fxgraph_cache_hit"], inductor["fxgraph_cache_miss"], aot["autograd_cache_hit"],
             aot["autograd_cache_miss"], aot["autograd_cache_bypass"])
    return len(blob)
