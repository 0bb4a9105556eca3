"""The row every stage reads and writes: one flat record per source video, then per clip.

Ray Data concatenates blocks from different workers, so every stage emits the same columns with
the same types; a row that failed early keeps flowing with ``status`` set and its later columns
at their defaults. Large payloads are bytes (the clip's mp4, encoded annotation members), never
decoded frames.

Statuses: ``ok`` (goes on), ``skipped`` (valid input, not usable: too short, no person, ...),
``failed`` (broken input or a failed annotation). ``reason`` is a stable snake_case word.
"""

from __future__ import annotations

import numpy as np

OK, SKIPPED, FAILED = "ok", "skipped", "failed"

COLUMNS: dict[str, object] = {
    # catalog
    "source": "",
    "video_id": "",
    "status": OK,
    "reason": "",
    "detail": "",
    # probe
    "codec": "",
    "width": 0,
    "height": 0,
    "fps": 0.0,
    "num_frames": 0,
    "duration": 0.0,
    "rotation": 0,
    # clips: one row per clip; a video that yields none keeps one row with clip_count 0
    "key": "",
    "clip_count": 0,
    "start_frame": 0,
    "source_frames": "",  # JSON list: source frame index of every clip frame
    "clip_frames": 0,
    "clip_fps": 0.0,
    "clip_width": 0,
    "clip_height": 0,
    "mp4": b"",
    # localise, when it runs as its own stage: the clip's boxes as JSON (annotate reads them)
    "localisation": "",
    # annotate / qualify: the encoded schema-v1 members besides mp4
    "json": b"",
    "mask_npz": b"",
    "pose_npz": b"",
    "depth_npz": b"",
    # seconds each stage spent on this row (a video's probe/clip time sits on its first clip row)
    "t_probe": 0.0,
    "t_clips": 0.0,
    "t_localise": 0.0,
    "t_annotate": 0.0,
    "t_annotate_parts": "",  # JSON: seconds of the annotate time by part (decode, each role, encode)
    "t_qualify": 0.0,
}
STAGE_TIMES = ("t_probe", "t_clips", "t_localise", "t_annotate", "t_qualify")


def new_row(**values) -> dict:
    unknown = set(values) - set(COLUMNS)
    if unknown:
        raise KeyError(f"unknown row columns {sorted(unknown)}")
    return {**COLUMNS, **values}


def normalise(row: dict) -> dict:
    """Every column present with its declared Python type (numpy scalars from Ray become Python)."""
    out = {}
    for name, default in COLUMNS.items():
        value = row.get(name, default)
        if isinstance(default, bytes):
            out[name] = bytes(value) if value is not None else b""
        elif isinstance(default, bool):
            out[name] = bool(value)
        elif isinstance(default, int):
            out[name] = int(value)
        elif isinstance(default, float):
            out[name] = float(value)
        else:
            out[name] = "" if value is None else str(value)
    return out


def fail(row: dict, status: str, reason: str, detail: str = "") -> dict:
    """Mark a row as ended with ``status``/``reason``; later stages pass it through untouched."""
    return {**row, "status": status, "reason": reason, "detail": detail[:500]}


def rows_from_batch(batch: dict[str, np.ndarray]) -> list[dict]:
    """Ray's numpy batch (column -> array) -> list of normalised row dicts."""
    names = list(batch)
    n = len(batch[names[0]]) if names else 0
    return [normalise({name: batch[name][i] for name in names}) for i in range(n)]


def batch_from_rows(rows: list[dict]) -> dict[str, np.ndarray]:
    """Row dicts -> a numpy batch with every column, typed so all blocks share one schema."""
    rows = [normalise(r) for r in rows]
    batch = {}
    for name, default in COLUMNS.items():
        values = [r[name] for r in rows]
        if isinstance(default, (bytes, str)):
            array = np.empty(len(values), dtype=object)
            array[:] = values
            batch[name] = array
        else:
            batch[name] = np.asarray(values, dtype=np.float64 if isinstance(default, float) else np.int64)
    return batch
