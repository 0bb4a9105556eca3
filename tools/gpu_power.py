"""The GPU's clock and power while a benchmark times, sampled with ``nvidia-smi`` in the background.

A card held at its power limit lowers its SM clock, so the same kernels take longer. The stage-2
step's VAE encoder, run alone for a few seconds on an H100, draws the card's 700 W and its SM clock
falls from 1980 MHz to 1400-1700 MHz (``BENCHMARKS.md``). MFU is reckoned against a fixed peak
(989 TFLOP/s on an H100 or H200: 132 SMs at 1830 MHz), so a report that gives the clock and power
of its timed window says how much of the distance to that peak is the power limit. ``nvidia-smi`` comes with the driver; where it is missing
(a CPU run) nothing is sampled and the report says so with ``None``. :class:`NvidiaSmi`, the
background poller under :class:`PowerSampler`, also gives ``tools.bench_pipeline`` its utilisation.
"""

from __future__ import annotations

import logging
import subprocess
import threading
import time

log = logging.getLogger(__name__)

QUERY = "clocks.sm,clocks.max.sm,power.draw,power.limit,{reasons}"
# The field of the reasons for a lowered clock: drivers from 535 on call it clocks_event_reasons
# and keep the older name, clocks_throttle_reasons, as an alias that later ones may drop.
REASONS_FIELDS = ("clocks_event_reasons.active", "clocks_throttle_reasons.active")
# bits of that field (nvidia-smi --help-query-gpu)
SW_POWER_CAP = 0x4
SLOWDOWN = 0x8 | 0x20 | 0x40 | 0x80  # hardware slowdown, software and hardware thermal, power brake


def reasons_field(executable: str = "nvidia-smi") -> str:
    """The first of :data:`REASONS_FIELDS` that this machine's ``nvidia-smi`` answers (the last one
    where none does or ``nvidia-smi`` is missing, and sampling then finds nothing either)."""
    for field in REASONS_FIELDS[:-1]:
        try:
            done = subprocess.run([executable, f"--query-gpu={field}", "--format=csv,noheader"],
                                  capture_output=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            break
        if done.returncode == 0:
            return field
    return REASONS_FIELDS[-1]


def summarise(lines: list[str]) -> dict | None:
    """Lines of ``nvidia-smi --query-gpu=QUERY --format=csv,noheader,nounits`` (with the field of
    :func:`reasons_field`) -> the window's mean
    and lowest SM clock, the card's top SM clock, mean power, the power limit, and the fractions of
    samples in which the clock was held down by the power cap and by heat or a hardware slowdown.
    Lines that do not parse (a field the driver reports as ``[N/A]``) are left out; None if none do."""
    rows = []
    for line in lines:
        fields = [f.strip() for f in line.split(",")]
        try:
            clock, top, power, limit, reasons = (float(fields[0]), float(fields[1]), float(fields[2]),
                                                 float(fields[3]), int(fields[4], 16))
        except (ValueError, IndexError):
            continue
        rows.append((clock, top, power, limit, reasons))
    if not rows:
        return None
    n = len(rows)
    return {"samples": n,
            "sm_clock_mhz_mean": sum(r[0] for r in rows) / n, "sm_clock_mhz_min": min(r[0] for r in rows),
            "sm_clock_mhz_max": max(r[1] for r in rows),
            "power_w_mean": sum(r[2] for r in rows) / n, "power_limit_w": max(r[3] for r in rows),
            "power_capped_fraction": sum(bool(r[4] & SW_POWER_CAP) for r in rows) / n,
            "slowdown_fraction": sum(bool(r[4] & SLOWDOWN) for r in rows) / n}


class NvidiaSmi:
    """``nvidia-smi --query-gpu=FIELDS --format=csv,noheader,nounits`` every ``period_ms`` in a
    background thread between :meth:`start` and :meth:`stop`: the lines it printed (``lines``) and
    when each came (``times``, ``time.time()``). ``gpu`` is what ``nvidia-smi -i`` takes (an index or
    a ``GPU-...`` UUID; every card if None); ``command`` replaces the whole command line. Where
    ``nvidia-smi`` is missing nothing is sampled. Subclasses act on each line in :meth:`line_read`."""

    def __init__(self, fields: str, period_ms: int, gpu: str | None = None, command: list[str] | None = None):
        self.command = command or ["nvidia-smi", f"--query-gpu={fields}", "--format=csv,noheader,nounits",
                                   "-lms", str(period_ms), *(["-i", gpu] if gpu is not None else [])]
        self.process: subprocess.Popen | None = None
        self.reader: threading.Thread | None = None
        self.lines: list[str] = []
        self.times: list[float] = []

    def start(self) -> None:
        """Start sampling afresh (what an earlier start sampled is dropped)."""
        self._end()
        self.lines, self.times = [], []
        try:
            self.process = subprocess.Popen(self.command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        except OSError as error:  # no nvidia-smi on this machine
            log.info("GPU not sampled: %s", error)
            return
        self.reader = threading.Thread(target=self._read, args=(self.process,), daemon=True)
        self.reader.start()

    def _read(self, process: subprocess.Popen) -> None:
        for line in process.stdout:
            self.times.append(time.time())
            self.lines.append(line)
            self.line_read(line)

    def line_read(self, line: str) -> None:
        """Called in the reader thread for each line, after it is stored."""

    def _end(self) -> bool:
        """End the ``nvidia-smi`` process, if one runs; whether one did."""
        if self.process is None:
            return False
        self.process.terminate()
        self.process.wait()
        self.reader.join()
        self.process.stdout.close()
        self.process = None
        return True

    def stop(self) -> None:
        """Stop sampling; ``lines`` and ``times`` keep what was sampled."""
        self._end()


class PowerSampler(NvidiaSmi):
    """The card's clock and power (:data:`QUERY`) every ``period_ms``; :meth:`stop` summarises them."""

    def __init__(self, gpu: str | None = None, period_ms: int = 100, command: list[str] | None = None):
        super().__init__(QUERY.format(reasons=reasons_field()) if command is None else "", period_ms, gpu, command)

    @classmethod
    def for_device(cls, device) -> "PowerSampler":
        """The sampler of a ``torch.device`` of this process, named by its UUID (``nvidia-smi``
        numbers the cards in another order than CUDA may, and ignores ``CUDA_VISIBLE_DEVICES``)."""
        import torch

        return cls(gpu=f"GPU-{torch.cuda.get_device_properties(device).uuid}")

    def stop(self) -> dict | None:
        """Stop sampling; :func:`summarise` of what was sampled since :meth:`start` (None if it was not sampling)."""
        return summarise(self.lines) if self._end() else None
