"""Run statistics: counts by status and reason, clips and frames, per-stage time, progress lines.

Per-stage figures come from the seconds each stage recorded on the rows it handled
(``t_probe``, ...), so they say where worker time went; ``wall_s`` is the driver's clock.
``annotated_clips_per_hour_steady`` is the rate at which annotated clips reached the driver
between the first and the last one: the job's throughput without its start-up (cluster, actors,
model loading) and drain, the figure a long run approaches. The annotate stage's seconds by part
(decode, each model, encode) are also summed without the first annotated clip, whose model calls
include one-time warm-up (compilation); in a one-process run that is each model's steady cost.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter

from .rows import OK

log = logging.getLogger(__name__)
STAGE_UNITS = {"probe": "videos", "clips": "videos", "localise": "clips", "annotate": "clips", "qualify": "clips"}


class RunStats:
    def __init__(self, total_videos: int, already_done: int = 0, progress_every_s: float = 10.0):
        self.total, self.already_done = total_videos, already_done
        self.progress_every_s = progress_every_s
        self.start = time.monotonic()
        self.last_progress = self.start
        self.videos: Counter = Counter()  # (status, reason)
        self.clip_reasons: Counter = Counter()
        self.clips_ok = self.frames = 0
        self.stage_seconds: Counter = Counter()
        self.stage_items: Counter = Counter()
        self.annotate_parts: Counter = Counter()
        self.annotate_parts_after_first: Counter = Counter()  # without the first clip's warm-up (compiles, caches)
        self.annotated = 0  # clips that ran the annotate stage
        self.first_annotated = self.last_annotated = 0.0  # driver clock when the first and last of them arrived

    def row(self, row: dict) -> None:
        for stage in STAGE_UNITS:
            seconds = row[f"t_{stage}"]
            if seconds > 0:
                self.stage_seconds[stage] += seconds
                self.stage_items[stage] += 1
        if row["t_annotate"] > 0:
            self.last_annotated = time.monotonic()
            self.first_annotated = self.first_annotated if self.annotated else self.last_annotated
            self.annotated += 1
        if row.get("t_annotate_parts"):
            parts = json.loads(row["t_annotate_parts"])
            self.annotate_parts.update(parts)
            if self.annotated > 1:
                self.annotate_parts_after_first.update(parts)
        if row["clip_count"] > 0 and row["status"] != OK:
            self.clip_reasons[row["reason"]] += 1

    def video(self, record: dict) -> None:
        self.videos[(record["status"], record["reason"])] += 1
        self.clips_ok += record["clips_ok"]
        self.frames += record["frames"]
        now = time.monotonic()
        if now - self.last_progress >= self.progress_every_s:
            self.last_progress = now
            log.info(self.progress_line())

    def progress_line(self) -> str:
        done = sum(self.videos.values())
        minutes = max(1e-9, time.monotonic() - self.start) / 60
        rate = done / minutes
        eta = (self.total - done) / rate if rate > 0 else float("inf")
        return (f"videos {done}/{self.total} | clips {self.clips_ok} ({self.clips_ok / minutes:.1f}/min) | "
                f"annotated {self.annotated} | ETA {eta:.1f} min")

    def steady_rate_per_hour(self) -> float | None:
        """Annotated clips per hour between the first and last arrival (None below 3 clips)."""
        if self.annotated < 3 or self.last_annotated <= self.first_annotated:
            return None
        return (self.annotated - 1) / (self.last_annotated - self.first_annotated) * 3600

    def summary(self, **extra) -> dict:
        wall = time.monotonic() - self.start
        by_status: Counter = Counter()
        for (status, _), n in self.videos.items():
            by_status[status] += n
        stages = {}
        for stage, unit in STAGE_UNITS.items():
            seconds, items = self.stage_seconds[stage], self.stage_items[stage]
            stages[stage] = {"items": items, "unit": unit, "worker_seconds": round(seconds, 3),
                             "per_worker_second": round(items / seconds, 3) if seconds else None,
                             "share_of_worker_time": None}
        total_seconds = sum(self.stage_seconds.values())
        for stage in stages:
            if total_seconds:
                stages[stage]["share_of_worker_time"] = round(self.stage_seconds[stage] / total_seconds, 3)
        return {
            "videos_total": self.total, "videos_already_done": self.already_done,
            "videos_processed": sum(self.videos.values()),
            "videos_by_status": dict(sorted(by_status.items())),
            "videos_by_reason": {f"{s}/{r or 'ok'}": n for (s, r), n in sorted(self.videos.items())},
            "clips": self.clips_ok, "frames": self.frames,
            "clips_rejected_by_reason": dict(sorted(self.clip_reasons.items())),
            "wall_s": round(wall, 3), "clips_per_min": round(self.clips_ok / wall * 60, 2) if wall else 0.0,
            "stages": stages,
            "annotated_clips_per_hour_steady": None if (r := self.steady_rate_per_hour()) is None else round(r, 1),
            "annotated_at_s": [round(t - self.start, 3) for t in (self.first_annotated, self.last_annotated)]
            if self.annotated else None,
            "annotate_seconds_by_part": {k: round(v, 3) for k, v in self.annotate_parts.items()},
            "annotate_seconds_by_part_after_first_clip": {k: round(v, 3) for k, v in self.annotate_parts_after_first.items()},
            **extra,
        }
