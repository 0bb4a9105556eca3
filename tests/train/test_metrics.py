"""Step timing: the time the host waits for the GPU at logging belongs to the steps it waited for."""

import time

from train.metrics import StepMeter


def test_time_settled_at_logging_counts_as_step_time_not_data_wait(monkeypatch):
    now = [100.0]
    monkeypatch.setattr(time, "perf_counter", lambda: now[0])  # a clock the test moves
    meter = StepMeter()
    meter.reset()
    now[0] += 0.02
    meter.data_ready()  # 20 ms waiting for data
    meter.step_done(samples=2, frames=32)  # the host only queued the step
    now[0] += 0.06  # reading the loss back: the GPU finishes the queued step
    meter.settle()
    out = meter.summary(flops_per_step=None, peak=None)
    assert abs(out["step_time_s"] - 0.08) < 1e-9
    assert abs(out["data_wait_fraction"] - 0.25) < 1e-9  # the settled 60 ms are step time, not waiting
    now[0] += 0.03
    meter.reset()  # time between windows (logging itself) is in neither
    now[0] += 0.01
    meter.data_ready()
    meter.step_done(samples=2, frames=32)
    assert abs(meter.summary(None, None)["step_time_s"] - 0.01) < 1e-9
