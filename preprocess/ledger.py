"""The ledger: which source videos are finished, written atomically per unit of work.

``OUTPUT/ledger/part-{seq:06d}.parquet`` holds one row per finished video (status, reason,
clip counts) and the name of the shard committed with it (empty for videos without clips).
A part is written under a temporary name and renamed *after* its shard's tar: the ledger part is
the commit point. On start, :func:`reconcile` removes temporaries and any shard no ledger part
names (a crash between the two renames), so a rerun redoes exactly the unfinished videos and
no clip key can appear in two shards.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

LEDGER_COLUMNS = {
    "source": pa.string(), "video_id": pa.string(), "status": pa.string(), "reason": pa.string(),
    "detail": pa.string(), "clips_ok": pa.int64(), "clips_rejected": pa.int64(), "clip_reasons": pa.string(),
    "frames": pa.int64(), "shard": pa.string(),
}
SCHEMA = pa.schema(list(LEDGER_COLUMNS.items()))
_INDEX = re.compile(r"-(\d{6})\.")


def _index(path: Path) -> int:
    match = _INDEX.search(path.name)
    return int(match.group(1)) if match else -1


class Ledger:
    def __init__(self, out_dir: str | os.PathLike):
        self.dir = Path(out_dir) / "ledger"
        self.shard_dir = Path(out_dir) / "shards"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.shard_dir.mkdir(parents=True, exist_ok=True)

    def parts(self) -> list[Path]:
        return sorted(self.dir.glob("part-*.parquet"))

    def _all_rows(self) -> pa.Table:
        tables = [pq.read_table(p).cast(SCHEMA) for p in self.parts()]
        return pa.concat_tables(tables) if tables else SCHEMA.empty_table()

    def table(self) -> pa.Table:
        """Every finished video once: a video retried in a later part keeps its latest row."""
        table = self._all_rows()
        latest = {vid: i for i, vid in enumerate(table.column("video_id").to_pylist())}
        return table.take(pa.array(sorted(latest.values()), pa.int64()))

    def done_ids(self, retry_failed: bool = False) -> set[str]:
        """Videos a rerun skips; with ``retry_failed`` those that ended ``failed`` are tried again."""
        rows = self.table().select(["video_id", "status"]).to_pylist()
        return {r["video_id"] for r in rows if not (retry_failed and r["status"] == "failed")}

    def next_part(self) -> int:
        return max((_index(p) for p in self.parts()), default=-1) + 1

    def next_shard(self) -> int:
        return max((_index(p) for p in self.shard_dir.glob("shard-*")), default=-1) + 1

    def write_part(self, rows: list[dict], seq: int) -> Path:
        table = pa.Table.from_pylist([{k: r[k] for k in LEDGER_COLUMNS} for r in rows], schema=SCHEMA)
        final = self.dir / f"part-{seq:06d}.parquet"
        tmp = final.with_name(final.name + ".tmp")
        pq.write_table(table, tmp)
        os.replace(tmp, final)  # commit point of this unit of work
        return final

    def reconcile(self) -> list[Path]:
        """Remove temporaries and shards no ledger part names; returns what was removed."""
        removed = [p for d in (self.dir, self.shard_dir) for p in d.glob("*.tmp")]
        named = {s for s in self._all_rows().column("shard").to_pylist() if s}
        for path in self.shard_dir.glob("shard-*"):
            if path.suffix in (".tar", ".parquet") and path.stem not in named:
                removed.append(path)
        for path in removed:
            path.unlink(missing_ok=True)
        return removed
