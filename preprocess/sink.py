"""The write stage: gathers a video's rows, writes its clips into size-capped shards, commits ledger parts.

Rows arrive in any order from the pipeline. A video is complete when all ``clip_count`` of its
rows (or its single row, for a video without clips) have arrived; only then are its accepted
clips added to the open shard. One video's clips never straddle two shards: a video that would
push the open shard past ``max_shard_bytes`` first closes it. A shard's clips are held (as
compact bytes, at most about one shard) until it closes, then written sorted by key, and a
ledger part naming the shard and every video it completes is committed.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter, defaultdict
from pathlib import Path

from dataset.schema import ClipMeta
from dataset.shards import ShardWriter

from .config import WriteConfig
from .ledger import Ledger
from .rows import OK
from .stages.qualify import raw_sample
from .stats import RunStats

log = logging.getLogger(__name__)
NEVER = 1 << 62  # ShardWriter's own cap is off: this sink decides where shards end


def video_record(rows: list[dict]) -> dict:
    """The ledger row of one finished video."""
    ok = [r for r in rows if r["status"] == OK]
    rejected = Counter(r["reason"] for r in rows if r["status"] != OK and r["clip_count"] > 0)
    first = rows[0]
    if ok:
        status, reason, detail = OK, "", ""
    else:  # the most common reason among the rows speaks for the video
        worst = Counter((r["status"], r["reason"]) for r in rows).most_common(1)[0][0]
        status, reason = worst
        detail = next(r["detail"] for r in rows if (r["status"], r["reason"]) == worst)
    return {"source": first["source"], "video_id": first["video_id"], "status": status, "reason": reason,
            "detail": detail, "clips_ok": len(ok), "clips_rejected": sum(rejected.values()),
            "clip_reasons": json.dumps(dict(sorted(rejected.items()))), "frames": sum(r["clip_frames"] for r in ok),
            "shard": ""}


def _size(row: dict) -> int:
    return sum(len(row[k]) for k in ("mp4", "json", "mask_npz", "pose_npz", "depth_npz")) + 6 * 512


class ShardSink:
    """Consumes rows; use as a context manager so the last shard and ledger part are committed."""

    def __init__(self, out_dir: str | Path, config: WriteConfig, stats: RunStats):
        self.config, self.stats = config, stats
        self.ledger = Ledger(out_dir)
        self.seq = self.ledger.next_part()
        self.writer = ShardWriter(self.ledger.shard_dir, prefix="shard", max_bytes=NEVER,
                                  start_index=self.ledger.next_shard())
        self.pending: dict[str, list[dict]] = defaultdict(list)
        self.in_shard: list[dict] = []  # ledger rows of videos whose clips are in the open shard
        self.shard_rows: list[dict] = []  # accepted clips of the open shard, held until it closes
        self.without_clips: list[dict] = []
        self.shard_bytes = 0
        self.last_flush = time.monotonic()

    def add(self, row: dict) -> None:
        self.stats.row(row)
        rows = self.pending[row["video_id"]]
        rows.append(row)
        if len(rows) >= max(1, row["clip_count"]):
            del self.pending[row["video_id"]]
            self._video_done(rows)
        if self.without_clips and time.monotonic() - self.last_flush > self.config.flush_every_s:
            self._commit_ledger([], "")

    def _video_done(self, rows: list[dict]) -> None:
        record = video_record(rows)
        self.stats.video(record)
        ok = sorted((r for r in rows if r["status"] == OK), key=lambda r: r["key"])
        if not ok:
            self.without_clips.append(record)
            return
        size = sum(_size(r) for r in ok)
        if self.in_shard and self.shard_bytes + size > self.config.max_shard_bytes:
            self.commit_shard()
        self.shard_rows += ok
        self.shard_bytes += size
        self.in_shard.append(record)

    def commit_shard(self) -> None:
        """Write the open shard's clips in key order, close its tar, then commit its ledger part."""
        if not self.in_shard:
            return
        for row in sorted(self.shard_rows, key=lambda r: r["key"]):
            self.writer.write_encoded(raw_sample(row), ClipMeta.from_json(row["json"]))
        self.writer.close()  # renames the tar: the shard is whole
        shard = self.writer.written[-1].stem
        self._commit_ledger([{**r, "shard": shard} for r in self.in_shard], shard)
        self.in_shard, self.shard_rows, self.shard_bytes = [], [], 0

    def _commit_ledger(self, records: list[dict], shard: str) -> None:
        rows = records + self.without_clips
        if rows:
            path = self.ledger.write_part(rows, self.seq)
            self.seq += 1
            log.debug("committed %s (%s)", path.name, shard or "no shard")
        self.without_clips = []
        self.last_flush = time.monotonic()

    def __enter__(self) -> "ShardSink":
        self.writer.__enter__()
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            if self.pending:  # every row of a video comes through the pipeline; a gap is a bug
                raise RuntimeError(f"{len(self.pending)} videos ended incomplete: {sorted(self.pending)[:5]}")
            self.commit_shard()
            self._commit_ledger([], "")
        self.writer.__exit__(exc_type, exc, tb)
