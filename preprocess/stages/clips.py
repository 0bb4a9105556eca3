"""Clip stage: one source video in, one row per clip out (``clip_key = {video_id}_{start_frame:06d}``).

The video is decoded once in the sandbox child, resampled to the clip rate by timestamp,
rotated upright, resized, split at shot cuts into fixed-length windows and each window
re-encoded as mp4 bytes: what travels on is compact. A video that yields no clip keeps one row
with ``clip_count`` 0 and the reason.
"""

from __future__ import annotations

import json
import time

from ..config import ClipConfig
from ..media import cut_clips
from ..rows import OK, SKIPPED, fail
from ..sandbox import IsolatedWorker
from .probe import sandboxed


def clip_key(video_id: str, start_frame: int) -> str:
    return f"{video_id}_{start_frame:06d}"


class ClipStage:
    name = "clips"

    def __init__(self, config: ClipConfig):
        self.config = config
        self.worker: IsolatedWorker | None = None

    def setup(self) -> None:
        self.worker = IsolatedWorker()

    def _params(self) -> dict:
        c = self.config
        return {"target_fps": c.target_fps, "clip_frames": c.clip_frames, "min_frames": c.min_frames,
                "short_side": c.short_side, "cut_threshold": c.cut_threshold, "max_clips": c.max_clips_per_video,
                "crf": c.crf}

    def clips_of(self, row: dict) -> list[dict]:
        if row["status"] != OK:
            return [row]
        start = time.perf_counter()
        args = (row["source"], row["fps"], row["rotation"], self._params())
        answer, row = sandboxed(self.worker, row, cut_clips, args, self.config.timeout_s)
        elapsed = time.perf_counter() - start
        if answer is not None and answer["status"] != OK:
            row = fail(row, answer["status"], answer["reason"], answer.get("detail", ""))
        if answer is None or row["status"] != OK:
            return [{**row, "t_clips": elapsed}]
        if not answer["clips"]:
            reason = "too_few_frames" if answer["decoded"] < self.config.min_frames else "shots_too_short"
            return [{**fail(row, SKIPPED, reason, f"{answer['decoded']} frames decoded"), "t_clips": elapsed}]
        out = []
        for i, clip in enumerate(answer["clips"]):
            out.append({**row, **{k: v for k, v in clip.items() if k != "source_frames"},
                        "key": clip_key(row["video_id"], clip["start_frame"]), "clip_count": len(answer["clips"]),
                        "source_frames": json.dumps(clip["source_frames"]), "clip_fps": answer["fps"],
                        "t_clips": elapsed if i == 0 else 0.0, "t_probe": row["t_probe"] if i == 0 else 0.0})
        return out

    def __call__(self, rows: list[dict]) -> list[dict]:
        if self.worker is None:
            self.setup()
        return [clip for row in rows for clip in self.clips_of(row)]
