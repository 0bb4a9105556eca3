"""The DataLoader around a :class:`~dataset.stream.ShardStream`, with a checkpointable position.

``for batch in loader`` runs one epoch; ``loader.state_dict()`` / ``load_state_dict()`` save and
restore the position with the trainer's checkpoint; ``loader.error_counts()`` sums the skipped
samples of every worker by reason.

What restoring guarantees: with the same shards, configs, seed, world size, ``num_workers`` and
batch size, the restored loader yields exactly the batches the original would have yielded after
the last batch it delivered (same clips, same augmentation, same order). Batches that workers had
prefetched but not delivered are recomputed, not lost. The cost of a restore is reading (not
decoding) the samples each worker had consumed in the current epoch. If the world size or worker
count changed, exact replay is impossible: the loader logs a warning and starts the next epoch.

With accelerate, give each rank its own loader and do not ``prepare`` it (its default would
dispatch rank 0's batches to everyone): move batches with ``batch.to(accelerator.device)``,
which also unpacks them on the GPU.
"""

from __future__ import annotations

import logging
from collections import Counter

from torch.utils.data import DataLoader

from .stream import Resume, ShardStream, StreamMark

log = logging.getLogger(__name__)
STATE_VERSION = 1


class StreamLoader:
    def __init__(self, stream: ShardStream, num_workers: int = 2, pin_memory: bool = False,
                 prefetch_factor: int = 2, timeout: float = 0):
        if num_workers < 0:
            raise ValueError("num_workers must be >= 0")
        self.stream, self.num_workers = stream, num_workers
        self.pin_memory, self.prefetch_factor, self.timeout = pin_memory, prefetch_factor, timeout
        self.epoch = 0
        self._resume = Resume()
        self._marks: dict[int, StreamMark] = {}  # latest mark per role since the iterator began
        self._past_errors: Counter = Counter()  # counted before the current iterator began
        self._delivered = 0  # batches delivered since the iterator began

    @property
    def roles(self) -> int:
        return max(1, self.num_workers)

    def __len__(self) -> int:
        if not self.stream.config.resampled:
            raise TypeError("an exact (evaluation) stream has no fixed length")
        return self.stream.config.batches_per_epoch

    def _dataloader(self) -> DataLoader:
        extra = {"prefetch_factor": self.prefetch_factor, "timeout": self.timeout} if self.num_workers else {}
        return DataLoader(self.stream, batch_size=None, num_workers=self.num_workers,
                          pin_memory=self.pin_memory, **extra)

    def __iter__(self):
        """One epoch (or the rest of a restored or interrupted one)."""
        if self._marks:  # an earlier loop stopped mid-epoch: continue where it stopped
            self._past_errors, self._resume = Counter(self.error_counts()), self._pending_resume()
            self._marks, self._delivered = {}, 0
        self.stream.set_epoch(self.epoch)
        self.stream.set_resume(self._resume)
        for item in self._dataloader():
            mark = item if isinstance(item, StreamMark) else item.stream
            self._marks[mark.role] = mark
            if isinstance(item, StreamMark):
                continue
            self._delivered += 1
            yield item
        self._finish_epoch()

    def _finish_epoch(self) -> None:
        self._past_errors = Counter(self.error_counts())
        self.epoch += 1
        self._resume, self._marks, self._delivered = Resume(), {}, 0

    def error_counts(self) -> dict[str, int]:
        """Skipped samples by reason over the whole run (all workers, this rank)."""
        total = Counter(self._past_errors)
        for mark in self._marks.values():
            total.update(mark.errors)
        return dict(total)

    def _pending_resume(self) -> Resume:
        positions, batches = dict(self._resume.positions), dict(self._resume.batches)
        for role, mark in self._marks.items():
            positions[role], batches[role] = mark.position, mark.batches
        return Resume(positions, batches, (self._resume.offset + self._delivered) % self.roles)

    def state_dict(self) -> dict:
        resume = self._pending_resume()
        return {
            "version": STATE_VERSION,
            "epoch": self.epoch,
            "rank": self.stream.rank,
            "world_size": self.stream.world_size,
            "num_workers": self.roles,
            "batch_size": self.stream.config.batch_size,
            "positions": {str(k): v for k, v in resume.positions.items()},
            "batches": {str(k): v for k, v in resume.batches.items()},
            "offset": resume.offset,
            "errors": self.error_counts(),
        }

    def load_state_dict(self, state: dict) -> None:
        if state.get("version") != STATE_VERSION:
            raise ValueError(f"loader state version {state.get('version')}, this code reads {STATE_VERSION}")
        self._past_errors, self._marks, self._delivered = Counter(state["errors"]), {}, 0
        same = (state["world_size"], state["num_workers"], state["batch_size"], state["rank"]) == (
            self.stream.world_size, self.roles, self.stream.config.batch_size, self.stream.rank)
        if not same:
            log.warning("data loader layout changed since the checkpoint; starting epoch %d afresh", state["epoch"] + 1)
            self.epoch, self._resume = state["epoch"] + 1, Resume()
            return
        self.epoch = state["epoch"]
        self._resume = Resume(
            positions={int(k): v for k, v in state["positions"].items()},
            batches={int(k): v for k, v in state["batches"].items()},
            offset=state["offset"],
        )
