"""Catalog: turn the job's INPUT into one row per source video, with a stable ``video_id``.

INPUT is a folder (searched recursively for video extensions), a glob, or a manifest (parquet,
CSV or JSONL) with a ``path``/``url``/``source``/``video`` column. Paths go through fsspec, so
``s3://...`` or ``gs://...`` work wherever the matching fsspec backend is installed. A manifest
entry that does not exist still becomes a row: the probe stage records it as ``missing_file``.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import fsspec
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.json as pa_json
import pyarrow.parquet as pq

from .config import VIDEO_EXTENSIONS
from .rows import new_row

MANIFEST_EXTENSIONS = (".parquet", ".csv", ".jsonl", ".json")
PATH_COLUMNS = ("path", "url", "source", "video", "video_path", "uri")


def canonical_source(path: str) -> str:
    """Absolute, normalised local path, or the URL as given (minus a trailing slash)."""
    if "://" in path and not path.startswith("file://"):
        return path.rstrip("/")
    local = path[len("file://"):] if path.startswith("file://") else path
    return os.path.normpath(os.path.abspath(os.path.expanduser(local)))


def video_id_of(source: str) -> str:
    """Stable 16-hex-digit id of a canonical source path (same path -> same id, on any machine)."""
    return hashlib.sha256(source.encode("utf-8")).hexdigest()[:16]


@dataclass
class Catalog:
    """Lists the sources of an INPUT; ``__call__`` returns catalog rows (source, video_id)."""

    extensions: tuple[str, ...] = VIDEO_EXTENSIONS

    def sources(self, spec: str) -> list[str]:
        fs, root = fsspec.core.url_to_fs(spec)
        if any(ch in spec for ch in "*?["):
            return self._with_protocol(fs, [p for p in fs.glob(root) if self._is_video_name(p)])
        if spec.lower().endswith(MANIFEST_EXTENSIONS) and fs.isfile(root):
            return read_manifest(spec)
        if fs.isdir(root):
            return self._with_protocol(fs, self._walk(fs, root))
        if fs.exists(root):
            return self._with_protocol(fs, [root])
        raise FileNotFoundError(f"input {spec!r} is not a folder, glob, manifest or file")

    def _walk(self, fs, root: str) -> list[str]:
        found = []
        for dirpath, dirnames, filenames in fs.walk(root):
            # A folder named like a video is listed too: probe records it instead of silently dropping it.
            found += [f"{dirpath}/{d}" for d in dirnames if self._is_video_name(d)]
            found += [f"{dirpath}/{f}" for f in filenames if self._is_video_name(f)]
        return found

    def _is_video_name(self, path: str) -> bool:
        return path.lower().endswith(self.extensions)

    @staticmethod
    def _with_protocol(fs, paths: list[str]) -> list[str]:
        protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
        if protocol in ("file", "local"):
            return sorted(paths)
        return sorted(f"{protocol}://{p}" for p in paths)

    def __call__(self, spec: str) -> list[dict]:
        rows, seen = [], set()
        for path in self.sources(spec):
            source = canonical_source(path)
            if source in seen:  # a manifest may list one video twice
                continue
            seen.add(source)
            rows.append(new_row(source=source, video_id=video_id_of(source)))
        return rows


def read_manifest(spec: str) -> list[str]:
    """Paths of a parquet / CSV / JSONL manifest, relative ones resolved against its folder."""
    with fsspec.open(spec, "rb") as f:
        data = f.read()
    lower = spec.lower()
    if lower.endswith(".parquet"):
        table = pq.read_table(pa.BufferReader(data))
    elif lower.endswith(".csv"):
        table = pa_csv.read_csv(pa.BufferReader(data))
    else:
        table = pa_json.read_json(pa.BufferReader(data))
    column = next((c for c in PATH_COLUMNS if c in table.column_names), None)
    if column is None:
        raise ValueError(f"manifest {spec} has none of the columns {PATH_COLUMNS}; it has {table.column_names}")
    base = spec.rsplit("/", 1)[0] if "/" in spec else "."
    out = []
    for value in table.column(column).to_pylist():
        if not value:
            continue
        value = str(value)
        relative = "://" not in value and not os.path.isabs(os.path.expanduser(value))
        out.append(f"{base}/{value}" if relative else value)
    return out


def is_local(source: str) -> bool:
    return "://" not in source or source.startswith("file://")


def local_path(source: str) -> Path | None:
    return Path(source) if is_local(source) else None
