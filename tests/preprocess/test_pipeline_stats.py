"""Run statistics: the steady-state annotate rate leaves out start-up and counts only annotated clips."""

import json

from preprocess import stats as stats_module
from preprocess.rows import OK, new_row
from preprocess.stats import RunStats


def _row(t_annotate: float, parts: str = "") -> dict:
    return new_row(t_probe=0.1, t_clips=0.2, t_annotate=t_annotate, t_qualify=0.0, clip_count=1,
                   status=OK, reason="", t_annotate_parts=parts)


def test_steady_rate_counts_annotated_clips_from_the_first_arrival(monkeypatch):
    clock = iter([0.0, 100.0, 110.0, 120.0, 130.0, 140.0, 150.0, 160.0])  # start-up: the first clip arrives at 100 s
    monkeypatch.setattr(stats_module.time, "monotonic", lambda: next(clock))
    stats = RunStats(total_videos=3)
    for t in (1.0, 1.0, 0.0, 1.0, 1.0):  # the third row never reached the annotate stage
        stats.row(_row(t))
    # four annotated clips at 100, 110, 120 and 130 s: 3 intervals in 30 s -> 360 per hour
    assert stats.steady_rate_per_hour() == 360.0
    summary = stats.summary()
    assert summary["annotated_clips_per_hour_steady"] == 360.0
    assert summary["stages"]["annotate"]["items"] == 4
    assert summary["annotated_at_s"] == [100.0, 130.0]  # seconds from the start: where the steady window lies


def test_steady_rate_needs_three_clips(monkeypatch):
    clock = iter([0.0, 5.0, 6.0])
    monkeypatch.setattr(stats_module.time, "monotonic", lambda: next(clock))
    stats = RunStats(total_videos=1)
    stats.row(_row(1.0))
    stats.row(_row(1.0))
    assert stats.steady_rate_per_hour() is None


def test_part_seconds_after_the_first_clip_leave_its_warm_up_out():
    stats = RunStats(total_videos=1)
    stats.row(_row(0.0))  # rejected before the annotate stage: not the first annotated clip
    stats.row(_row(9.0, json.dumps({"segment": 6.0, "pose": 3.0})))  # first annotated clip: compiles
    stats.row(_row(3.0, json.dumps({"segment": 2.0, "pose": 1.0})))
    stats.row(_row(2.5, json.dumps({"segment": 1.5, "pose": 1.0})))
    summary = stats.summary()
    assert summary["annotate_seconds_by_part"] == {"segment": 9.5, "pose": 5.0}
    assert summary["annotate_seconds_by_part_after_first_clip"] == {"segment": 3.5, "pose": 2.0}
