"""The GPU clock and power sampler: nvidia-smi's lines summarised, sampling in a real subprocess."""

import os
import sys
import time

import pytest

from tools.gpu_power import REASONS_FIELDS, PowerSampler, reasons_field, summarise

# nvidia-smi --query-gpu=QUERY --format=csv,noheader,nounits, as an H100 printed them (clocks.max.sm added)
LINES = ["1980, 1980, 121.51, 700.00, 0x0000000000000000",
         "1530, 1980, 698.93, 700.00, 0x0000000000000004",
         "1425, 1980, 701.34, 700.00, 0x0000000000000024",
         "[N/A], 1980, [N/A], 700.00, 0x0000000000000000"]


def test_samples_are_summarised_with_the_power_cap_and_slowdowns_told_apart():
    row = summarise(LINES)
    assert row["samples"] == 3  # the [N/A] line is left out
    assert row["sm_clock_mhz_mean"] == pytest.approx((1980 + 1530 + 1425) / 3)
    assert row["sm_clock_mhz_min"] == 1425 and row["sm_clock_mhz_max"] == 1980
    assert row["power_w_mean"] == pytest.approx((121.51 + 698.93 + 701.34) / 3)
    assert row["power_limit_w"] == 700
    assert row["power_capped_fraction"] == pytest.approx(2 / 3)  # bit 0x4 in 0x4 and 0x24
    assert row["slowdown_fraction"] == pytest.approx(1 / 3)  # 0x20: software thermal slowdown
    assert summarise(LINES[3:]) is None and summarise([]) is None


def _printer(lines):
    script = f"import time\nfor line in {lines!r}:\n    print(line, flush=True)\ntime.sleep(120)\n"
    return [sys.executable, "-c", script]


def _wait_for(sampler, n):
    deadline = time.monotonic() + 30
    while len(sampler.lines) < n and time.monotonic() < deadline:
        time.sleep(0.05)


def test_a_sampler_collects_from_its_process_until_stopped_and_starts_afresh():
    sampler = PowerSampler(command=_printer(LINES[:2]))
    sampler.start()
    _wait_for(sampler, 2)
    process = sampler.process
    first = sampler.stop()
    assert first["samples"] == 2 and first["power_capped_fraction"] == 0.5
    assert process.poll() is not None  # the sleeping printer was ended, not waited out
    sampler.start()  # a timed window that starts again drops what the first sampled
    _wait_for(sampler, 2)
    assert sampler.stop()["samples"] == 2
    assert sampler.stop() is None  # stopped twice: nothing more


def test_without_nvidia_smi_nothing_is_sampled():
    sampler = PowerSampler(command=["/nonexistent/nvidia-smi"])
    sampler.start()
    assert sampler.stop() is None


def _stand_in(folder, rejects: str = ""):
    """An ``nvidia-smi`` that prints one value and rejects queries naming ``rejects`` as a driver
    rejects a field it does not know (exit status 2)."""
    script = folder / "nvidia-smi"
    reject = f'case "$1" in *{rejects}*) echo "Field is not a valid field to query."; exit 2;; esac\n' if rejects else ""
    script.write_text(f"#!/bin/sh\n{reject}echo 0x0000000000000000\n")
    script.chmod(0o755)
    return script


def test_the_clock_reasons_field_is_the_name_the_driver_answers(tmp_path, monkeypatch):
    new, old = REASONS_FIELDS
    for folder in ("old", "new"):
        (tmp_path / folder).mkdir()
    assert reasons_field(str(_stand_in(tmp_path / "old", rejects="clocks_event_reasons"))) == old
    assert reasons_field(str(_stand_in(tmp_path / "new"))) == new
    assert reasons_field(str(tmp_path / "missing")) == old
    monkeypatch.setenv("PATH", f"{tmp_path / 'new'}{os.pathsep}{os.environ['PATH']}")
    assert any(arg.endswith(new) for arg in PowerSampler().command)  # the sampler queries the name found
