"""Wall time per named stage, for benchmarks of the sample pipeline (no cost when unused)."""

from __future__ import annotations

import time
from collections import defaultdict
from contextlib import contextmanager


class StageTimer:
    """``with timer("decode"): ...`` adds the block's time to ``timer.seconds["decode"]``.

    ``clock`` is wall time by default; ``time.process_time`` counts this process's CPU time,
    which stays meaningful on a machine shared with other jobs.
    """

    def __init__(self, clock=time.perf_counter):
        self.seconds: dict[str, float] = defaultdict(float)
        self.clock = clock

    @contextmanager
    def __call__(self, name: str):
        start = self.clock()
        try:
            yield
        finally:
            self.seconds[name] += self.clock() - start


class NullTimer:
    @contextmanager
    def __call__(self, name: str):
        yield


NULL_TIMER = NullTimer()
