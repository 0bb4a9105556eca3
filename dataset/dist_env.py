"""Which rank of how many this process is, for splitting shards between nodes.

Explicit values win; otherwise an initialised ``torch.distributed`` process group; otherwise the
``RANK`` / ``WORLD_SIZE`` environment variables that ``torchrun`` and ``accelerate launch`` set;
otherwise a single process.
"""

from __future__ import annotations

import os


def resolve_rank(rank: int | None = None, world_size: int | None = None) -> tuple[int, int]:
    if (rank is None) != (world_size is None):
        raise ValueError("give both rank and world_size, or neither")
    if rank is None:
        rank, world_size = _from_torch() or _from_env() or (0, 1)
    if not 0 <= rank < world_size:
        raise ValueError(f"rank {rank} is outside 0..{world_size - 1}")
    return rank, world_size


def _from_torch() -> tuple[int, int] | None:
    try:
        import torch.distributed as dist
    except ImportError:
        return None
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return None


def _from_env() -> tuple[int, int] | None:
    if "RANK" in os.environ and "WORLD_SIZE" in os.environ:
        return int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    return None
