"""Streaming training batches from WebDataset shards, one pipeline per DataLoader worker.

Stages, as in open_clip: shard source -> tar reader -> sample shuffle buffer -> decode + build
sample (errors counted, sample skipped) -> batch. Two modes:

* **resampled** (training): every (rank, worker) draws shards at random from the whole list with
  its own seed, so no rank waits for another and restarts need no coordination; each epoch is cut
  to ``batches_per_epoch`` batches per rank (split over the workers), so every rank runs the same
  number of steps.
* **exact** (evaluation): shards split by rank, then by worker, read in order, every sample once;
  the last batch may be short.

Seeds: shard draws and the shuffle buffer from (seed, rank, worker role, epoch); each sample's
augmentation from (seed, rank, role, epoch, position in the role's stream) in resampled mode and
from (seed, clip key) in exact mode. So a role's stream is a pure function of those numbers, and
skipping its first n raw samples (reading tars, decoding nothing) replays it exactly: that is
how :class:`dataset.stream_loader.StreamLoader` restores a position.

Worker *roles*: physical DataLoader worker p plays role (p + offset) % num_workers. A fresh epoch
has offset 0; a restored one rotates the roles so that the DataLoader's round robin resumes with
the role that was due next.
"""

from __future__ import annotations

import random
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import IterableDataset, get_worker_info
from webdataset.shardlists import expand_urls
from webdataset.tariterators import tarfile_samples
from webdataset.filters import _shuffle

from .batch import collate
from .dist_env import resolve_rank
from .sample_config import SampleConfig
from .sample_errors import ErrorLog
from .schema import SampleDecodeError
from .shards import list_shards
from .training_sample import build_sample_raw


@dataclass
class StreamConfig:
    """Where the shards are and how they are streamed. Validated on construction."""

    shards: str | list[str]
    """A folder of shards, a brace pattern (``data/shard-{000000..000099}.tar``) or a list of tars/URLs."""
    batch_size: int = 1
    resampled: bool = True
    """True: training stream (random shards, fixed epoch length). False: exact single pass."""
    batches_per_epoch: int | None = None
    """Batches each rank yields per epoch (resampled mode only; required there)."""
    shuffle_buffer: int = 64
    shuffle_initial: int = 16
    seed: int = 0
    error_log_interval_s: float = 60.0

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        if self.resampled and (self.batches_per_epoch is None or self.batches_per_epoch < 1):
            raise ValueError("resampled streams need batches_per_epoch >= 1 (the epoch length per rank)")
        if self.shuffle_buffer < 1 or not 0 <= self.shuffle_initial <= self.shuffle_buffer:
            raise ValueError("need shuffle_buffer >= 1 and 0 <= shuffle_initial <= shuffle_buffer")


@dataclass
class StreamMark:
    """Loader bookkeeping carried by each batch: who made it and where that worker stands."""

    role: int
    epoch: int
    position: int  # raw samples this role has taken from its stream, this epoch, after this batch
    batches: int  # batches this role has yielded this epoch, including this one
    errors: dict[str, int] = field(default_factory=dict)  # failures counted since this iterator began


@dataclass
class Resume:
    """Where each role stands in an epoch being resumed, and the role rotation."""

    positions: dict[int, int] = field(default_factory=dict)
    batches: dict[int, int] = field(default_factory=dict)
    offset: int = 0


def resolve_shards(spec: str | list[str]) -> list[str]:
    if isinstance(spec, (list, tuple)):
        urls = [str(s) for s in spec]
    elif Path(spec).is_dir():
        urls = [str(p) for p in list_shards(spec)]
    else:
        urls = expand_urls(str(spec))
    if not urls:
        raise ValueError(f"no shards found in {spec!r}")
    return urls


def _seed(*parts: int) -> np.random.SeedSequence:
    return np.random.SeedSequence([int(p) & 0xFFFFFFFF for p in parts])


class ShardStream(IterableDataset):
    """Packed :class:`~dataset.batch.AA2Batch` es for one rank (DataLoader batch_size=None).

    At the end of an exact pass each worker also yields a bare :class:`StreamMark` with its final
    error counts; :class:`~dataset.stream_loader.StreamLoader` consumes it.
    """

    def __init__(self, config: StreamConfig, sample: SampleConfig, rank: int | None = None,
                 world_size: int | None = None):
        self.config, self.sample = config, sample
        self.rank, self.world_size = resolve_rank(rank, world_size)
        self.urls = resolve_shards(config.shards)
        self.epoch = 0
        self.resume = Resume()

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def set_resume(self, resume: Resume) -> None:
        self.resume = resume

    def quota(self, role: int, num_workers: int) -> int | None:
        """Batches role ``role`` yields per epoch (None: until its shards run out)."""
        if not self.config.resampled:
            return None
        n = self.config.batches_per_epoch
        return n // num_workers + (role < n % num_workers)

    def _role(self) -> tuple[int, int]:
        info = get_worker_info()
        physical, workers = (info.id, info.num_workers) if info else (0, 1)
        return (physical + self.resume.offset) % workers, workers

    def _shard_source(self, role: int, workers: int):
        if not self.config.resampled:
            for url in self.urls[self.rank :: self.world_size][role::workers]:
                yield {"url": url}
            return
        rng = random.Random(_seed(self.config.seed, self.rank, role, self.epoch, 1).generate_state(1)[0].item())
        while True:
            yield {"url": self.urls[rng.randrange(len(self.urls))]}

    def _raw_samples(self, role: int, workers: int, errors: ErrorLog):
        samples = tarfile_samples(self._shard_source(role, workers), handler=errors.tar_handler)
        if not self.config.resampled:
            return samples
        rng = random.Random(_seed(self.config.seed, self.rank, role, self.epoch, 2).generate_state(1)[0].item())
        return _shuffle(iter(samples), self.config.shuffle_buffer, self.config.shuffle_initial, rng=rng)

    def _rng(self, role: int, position: int, key: str) -> np.random.Generator:
        if self.config.resampled:
            return np.random.default_rng(_seed(self.config.seed, self.rank, role, self.epoch, position))
        return np.random.default_rng(_seed(self.config.seed, zlib.crc32(key.encode())))

    def __iter__(self):
        if get_worker_info() is not None:
            # One process per core already. (Not cv2.setNumThreads: in a forked child whose
            # parent had started OpenCV's pool it waits forever on the parent's threads.)
            torch.set_num_threads(1)
        role, workers = self._role()
        errors = ErrorLog(self.config.error_log_interval_s, where=f"rank {self.rank} worker {role}: ")
        quota = self.quota(role, workers)
        done = self.resume.batches.get(role, 0)
        position = self.resume.positions.get(role, 0)
        if quota is not None and done >= quota:
            return
        raw = self._raw_samples(role, workers, errors)
        for _ in range(position):  # replay: read and drop, decode nothing
            if next(raw, None) is None:
                return
        yield from self._batches(raw, role, position, done, quota, errors)

    def _batches(self, raw, role: int, position: int, done: int, quota: int | None, errors: ErrorLog):
        buffer = []
        for sample in raw:
            position += 1
            key = str(sample.get("__key__", ""))
            try:
                buffer.append(build_sample_raw(sample, self.sample, self._rng(role, position - 1, key)))
            except SampleDecodeError as exc:
                errors.record(exc, key)
                continue
            if len(buffer) == self.config.batch_size:
                done += 1
                yield collate(buffer, StreamMark(role, self.epoch, position, done, dict(errors.counts)))
                buffer = []
                if quota is not None and done >= quota:
                    return
        if buffer:  # exact mode: the short last batch
            done += 1
            yield collate(buffer, StreamMark(role, self.epoch, position, done, dict(errors.counts)))
        # A bare mark, which the loader keeps to itself, reports failures after the last batch.
        yield StreamMark(role, self.epoch, position, done, dict(errors.counts))
