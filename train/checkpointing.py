"""Checkpoint folders of a run: naming, atomic completion, ``latest``, pruning, per-rank data state.

``{output_dir}/checkpoints/step-00001000/`` holds ``accelerator.save_state`` output (model and
optimizer in safetensors where possible, LR scheduler, RNG states of every rank, registered
objects) plus ``data_state_rank{r}.json``, the data loader position of each rank (accelerate
saves registered objects from the main process only, and loader positions differ per rank).
A checkpoint is written under ``.tmp-step-...`` and renamed when every rank has finished, so
``latest`` never picks a half-written one.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

STEP_DIR = re.compile(r"^step-(\d{8})$")


def checkpoints_root(output_dir: str | Path) -> Path:
    return Path(output_dir) / "checkpoints"


def step_dir_name(step: int) -> str:
    return f"step-{step:08d}"


def tmp_dir(output_dir: str | Path, step: int) -> Path:
    return checkpoints_root(output_dir) / f".tmp-{step_dir_name(step)}"


def completed_checkpoints(output_dir: str | Path) -> list[tuple[int, Path]]:
    root = checkpoints_root(output_dir)
    if not root.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in root.iterdir() if p.is_dir() and (m := STEP_DIR.match(p.name))]
    return sorted(found)


def resolve_resume(spec: str | None, output_dir: str | Path) -> Path | None:
    """``latest`` -> newest completed checkpoint or None; a path -> that folder (must exist)."""
    if spec is None:
        return None
    if spec == "latest":
        done = completed_checkpoints(output_dir)
        return done[-1][1] if done else None
    path = Path(spec)
    if not path.is_dir():
        raise FileNotFoundError(f"checkpoint.resume={spec!r} is not a checkpoint folder")
    return path


def finalise(output_dir: str | Path, step: int) -> Path:
    """Main process, after every rank wrote its part: make the checkpoint visible."""
    final = checkpoints_root(output_dir) / step_dir_name(step)
    if final.exists():
        shutil.rmtree(final)
    tmp_dir(output_dir, step).rename(final)
    return final


def prune(output_dir: str | Path, keep_last: int) -> list[Path]:
    """Delete all but the newest ``keep_last`` completed checkpoints and any stale temporaries."""
    root = checkpoints_root(output_dir)
    removed = [p for _, p in completed_checkpoints(output_dir)[:-keep_last]]
    removed += [p for p in root.glob(".tmp-step-*")] if root.is_dir() else []
    for path in removed:
        shutil.rmtree(path, ignore_errors=True)
    return removed


def data_state_path(folder: Path, rank: int) -> Path:
    return folder / f"data_state_rank{rank}.json"


def save_data_state(folder: Path, rank: int, state: dict) -> None:
    data_state_path(folder, rank).write_text(json.dumps(state, sort_keys=True))


def load_data_state(folder: Path, rank: int) -> dict | None:
    path = data_state_path(folder, rank)
    return json.loads(path.read_text()) if path.exists() else None

