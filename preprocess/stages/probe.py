"""Probe stage: container, codec, size, fps, frame count and rotation of each source video.

Runs in a killable child process (:mod:`preprocess.sandbox`) under ``ProbeConfig.timeout_s``; a
bad file ends as a row with a reason, never as an exception.
"""

from __future__ import annotations

import time

from ..config import ProbeConfig
from ..media import probe_video
from ..rows import FAILED, OK, fail
from ..sandbox import CallTimeout, IsolatedWorker, RemoteError, WorkerDied

PROBE_FIELDS = ("codec", "width", "height", "fps", "num_frames", "duration", "rotation")


def sandboxed(worker: IsolatedWorker, row: dict, fn, args: tuple, timeout: float) -> tuple[dict | None, dict]:
    """Call ``fn`` in the sandbox; returns (answer, row) with the row failed when the call was."""
    try:
        return worker.call(fn, *args, timeout=timeout), row
    except CallTimeout as exc:
        return None, fail(row, FAILED, "decode_timeout", str(exc))
    except WorkerDied as exc:
        return None, fail(row, FAILED, "decoder_crashed", str(exc))
    except RemoteError as exc:
        return None, fail(row, FAILED, "decode_error", str(exc))


class ProbeStage:
    name = "probe"

    def __init__(self, config: ProbeConfig, min_frames: int = 1):
        self.config = config
        self.min_frames = min_frames
        self.worker: IsolatedWorker | None = None

    def setup(self) -> None:
        self.worker = IsolatedWorker()

    def probe_one(self, row: dict) -> dict:
        if row["status"] != OK:
            return row
        start = time.perf_counter()
        args = (row["source"], self.config.max_pixels, self.min_frames)
        answer, row = sandboxed(self.worker, row, probe_video, args, self.config.timeout_s)
        if answer is not None:
            row = {**row, **{k: answer[k] for k in PROBE_FIELDS if k in answer}}
            if answer["status"] != OK:
                row = fail(row, answer["status"], answer["reason"], answer.get("detail", ""))
        return {**row, "t_probe": time.perf_counter() - start}

    def __call__(self, rows: list[dict]) -> list[dict]:
        if self.worker is None:
            self.setup()
        return [self.probe_one(r) for r in rows]
