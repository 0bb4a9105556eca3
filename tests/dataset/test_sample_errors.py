"""Per-sample failures: reasons are stable, counts exact, logging limited in rate."""

import logging

from dataset.sample_errors import ErrorLog, reason_of
from dataset.schema import SampleDecodeError


def test_reasons():
    assert reason_of(SampleDecodeError("k", "mask.npz", "bad")) == "decode_mask_npz"
    assert reason_of(SampleDecodeError("k", "mp4", "bad")) == "decode_mp4"
    assert reason_of(OSError("truncated tar")) == "tar_read"


def test_counts_everything_but_logs_only_the_first_then_per_interval(caplog):
    errors = ErrorLog(interval_s=3600, first=2)
    with caplog.at_level(logging.WARNING, logger="dataset.sample_errors"):
        for i in range(10):
            errors.record(SampleDecodeError(f"k{i}", "mp4", "broken"), f"k{i}")
        assert errors.tar_handler(OSError("eof")) is True
    assert errors.counts == {"decode_mp4": 10, "tar_read": 1}
    assert len(caplog.records) == 2


def test_logs_again_after_the_interval_with_the_number_not_logged(caplog):
    errors = ErrorLog(interval_s=0.0, first=1)
    with caplog.at_level(logging.WARNING, logger="dataset.sample_errors"):
        for i in range(3):
            errors.record(SampleDecodeError("k", "json", "bad"))
    assert len(caplog.records) == 3
    limited = ErrorLog(interval_s=3600, first=1)
    limited._last_log = float("-inf")
    with caplog.at_level(logging.WARNING, logger="dataset.sample_errors"):
        caplog.clear()
        for _ in range(4):
            limited.record(SampleDecodeError("k", "json", "bad"))
        limited._last_log -= 7200  # the interval has passed
        limited.record(SampleDecodeError("k", "json", "bad"))
    assert len(caplog.records) == 2 and "(+3 not logged)" in caplog.records[-1].getMessage()
