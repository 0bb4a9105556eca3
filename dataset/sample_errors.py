"""Per-sample failures while streaming: counted by reason, logged at a limited rate, never raised.

A corrupt member, an undecodable mp4 or a truncated tar costs one sample, not the run. Reasons
are stable snake_case strings (``decode_mp4``, ``decode_mask_npz``, ``tar_read``, ...) so counts
can be summed across workers and ranks. Programmer errors (anything that is not a
:class:`~dataset.schema.SampleDecodeError` or a tar read error) still raise.
"""

from __future__ import annotations

import logging
import time
from collections import Counter

from .schema import SampleDecodeError

log = logging.getLogger(__name__)


def reason_of(exc: BaseException) -> str:
    if isinstance(exc, SampleDecodeError):
        return "decode_" + exc.member.replace(".", "_")
    return "tar_read"


class ErrorLog:
    """Counts failures; logs the first ``first`` of them, then at most one line per ``interval_s``."""

    def __init__(self, interval_s: float = 60.0, first: int = 3, where: str = ""):
        self.counts: Counter[str] = Counter()
        self.interval_s, self.first, self.where = interval_s, first, where
        self._last_log = float("-inf")
        self._unlogged = 0

    def record(self, exc: BaseException, key: str = "") -> str:
        reason = reason_of(exc)
        self.counts[reason] += 1
        total = sum(self.counts.values())
        now = time.monotonic()
        if total <= self.first or now - self._last_log >= self.interval_s:
            more = f" (+{self._unlogged} not logged)" if self._unlogged else ""
            log.warning("%sskipped sample %s: %s: %s%s", self.where, key or "?", reason, exc, more)
            self._last_log, self._unlogged = now, 0
        else:
            self._unlogged += 1
        return reason

    def tar_handler(self, exc: BaseException) -> bool:
        """webdataset handler for tar-level errors: count, then keep reading."""
        self.record(exc)
        return True
