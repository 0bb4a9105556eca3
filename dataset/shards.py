"""Writing and reading shard files: WebDataset tars capped by bytes, each with a parquet manifest.

A shard ``{prefix}-{index:06d}.tar`` holds samples whose members are contiguous (one sample's
members together, as WebDataset readers require). Its manifest ``{prefix}-{index:06d}.parquet``
has one row per sample. Both are written under a temporary name and renamed when complete; the
tar's rename is the commit point, so a shard whose tar exists is whole, and a crash leaves at
most ``*.tmp`` files, which the next writer removes.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import webdataset as wds

from .schema import ClipMeta, ClipSample, decode_sample, encode_sample, member_sizes

TMP_SUFFIX = ".tmp"


def manifest_row(sample: ClipSample, sizes: dict[str, int], shard: str) -> dict:
    return meta_manifest_row(sample.key, sample.meta, sizes, shard)


def meta_manifest_row(key: str, m: ClipMeta, sizes: dict[str, int], shard: str) -> dict:
    return {
        "key": key,
        "shard": shard,
        "source": m.source,
        "video_id": m.video_id,
        "start_frame": m.start_frame,
        "num_frames": m.num_frames,
        "fps": float(m.fps),
        "width": m.width,
        "height": m.height,
        "keypoint_format": m.keypoint_format,
        "object_labels": list(m.object_labels),
        "boxes": json.dumps(m.boxes, sort_keys=True),
        "scores": json.dumps(m.scores, sort_keys=True),
        "annotators": json.dumps(m.annotators, sort_keys=True),
        "schema_version": m.schema_version,
        "status": "ok",
        **{f"bytes_{name.replace('.', '_')}": n for name, n in sizes.items()},
    }


class ShardWriter:
    """Writes ClipSamples into size-capped shards; use as a context manager.

    ``max_bytes`` caps a shard's tar size (a sample never straddles shards, so one sample larger
    than the cap makes a shard of its own); ``max_count`` optionally caps samples per shard.
    """

    def __init__(self, out_dir: str | os.PathLike, prefix: str = "shard", max_bytes: int = 1 << 30,
                 max_count: int | None = None, start_index: int = 0):
        if max_bytes <= 0:
            raise ValueError(f"max_bytes must be positive, got {max_bytes}")
        if "-" in prefix or "/" in prefix:
            raise ValueError(f"prefix {prefix!r} must not contain '-' or '/'")
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.prefix, self.max_bytes, self.max_count = prefix, max_bytes, max_count
        self.index = start_index
        self.written: list[Path] = []  # completed tar paths
        self._tar = None
        self._rows: list[dict] = []
        self._bytes = 0

    def _name(self) -> str:
        return f"{self.prefix}-{self.index:06d}"

    def _open(self) -> None:
        tmp = self.out_dir / f"{self._name()}.tar{TMP_SUFFIX}"
        self._stream = open(tmp, "wb")
        self._tar = wds.TarWriter(self._stream)
        self._rows, self._bytes = [], 0

    def write(self, sample: ClipSample, extra: dict | None = None) -> None:
        self.write_encoded(encode_sample(sample), sample.meta, extra)

    def write_encoded(self, encoded: dict, meta: ClipMeta, extra: dict | None = None) -> None:
        """Write a sample already encoded by :func:`encode_sample` (no decode/re-encode round trip)."""
        sizes = member_sizes(encoded)
        size = sum(sizes.values()) + 512 * (len(sizes) + 1)  # tar headers
        full = self._tar is not None and (
            self._bytes + size > self.max_bytes or (self.max_count and len(self._rows) >= self.max_count)
        )
        if full:
            self._finish()
        if self._tar is None:
            self._open()
        self._tar.write(encoded)
        self._rows.append({**meta_manifest_row(encoded["__key__"], meta, sizes, self._name()), **(extra or {})})
        self._bytes += size

    def _finish(self) -> None:
        if self._tar is None:
            return
        self._tar.close()
        self._stream.close()
        name = self._name()
        table = pa.Table.from_pylist(self._rows)
        tmp_parquet = self.out_dir / f"{name}.parquet{TMP_SUFFIX}"
        pq.write_table(table, tmp_parquet)
        os.replace(tmp_parquet, self.out_dir / f"{name}.parquet")
        final = self.out_dir / f"{name}.tar"
        os.replace(self.out_dir / f"{name}.tar{TMP_SUFFIX}", final)  # commit point
        self.written.append(final)
        self._tar = None
        self.index += 1

    def close(self) -> list[Path]:
        self._finish()
        return self.written

    def __enter__(self) -> "ShardWriter":
        for stale in self.out_dir.glob(f"{self.prefix}-*{TMP_SUFFIX}"):
            stale.unlink()
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        elif self._tar is not None:  # leave no half-written shard behind
            self._tar.close()
            self._stream.close()
            Path(self._stream.name).unlink(missing_ok=True)
            self._tar = None


def list_shards(folder: str | os.PathLike) -> list[Path]:
    """Completed shard tars in a folder, sorted by name."""
    return sorted(Path(folder).glob("*.tar"))


def read_manifests(folder: str | os.PathLike) -> pa.Table:
    """All shard manifests of a folder concatenated (only shards whose tar exists)."""
    tables = [pq.read_table(p.with_suffix(".parquet")) for p in list_shards(folder)]
    return pa.concat_tables(tables, promote_options="default") if tables else pa.table({})


def iter_raw_samples(tar_path: str | os.PathLike):
    """Raw WebDataset sample dicts of one tar, in order (members as bytes)."""
    yield from wds.WebDataset(str(tar_path), shardshuffle=False, empty_check=False)


def iter_samples(tar_path: str | os.PathLike):
    """Decoded ClipSamples of one tar, in order."""
    for raw in iter_raw_samples(tar_path):
        yield decode_sample(raw)
