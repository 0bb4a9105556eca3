"""The training benchmark: argument checks, overrides, the profile of a step, its VAE timing on a toy VAE."""

import argparse
import gzip
import json
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import torch

from tests.dataset.conftest import write_shard_folder
from tools.bench_train import add_arguments, parse_case, run
from tools.timed_window import GpuClock, TimedWindow
from tools.bench_vae import bench_vae

REPO = Path(__file__).resolve().parents[2]


def test_cases_parse_and_bad_ones_say_what_is_expected():
    assert parse_case("2:1") == (2, 1, False)
    assert parse_case("1:8:compile") == (1, 8, True)
    for bad in ("3:1", "2", "2:1:fast"):
        with pytest.raises(argparse.ArgumentTypeError, match="STAGE:BATCH"):
            parse_case(bad)


def test_vae_timing_reports_each_way_with_counted_flops():
    row = bench_vae(images=3, size=32, repeat=1, tiny=True, ways=("eager", "eager_benchmark"))
    assert row["tflop_per_image"] >= 0 and row["images"] == 3
    for way in ("eager", "eager_benchmark"):
        assert row[f"{way}_s"] > 0 and row[f"{way}_recompiled_while_timed"] is False
    with pytest.raises(ValueError, match="unknown VAE ways.*max_autotune"):
        bench_vae(images=3, size=32, repeat=1, tiny=True, ways=("fastest",))


def test_bad_counts_fail_before_anything_runs(tmp_path):
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    for flags, message in ((["--warmup", "0"], "--warmup must be at least 1"),
                           (["--profile-kernels", "-1"], "--profile-kernels must be 0"),
                           (["--profile-trace", str(tmp_path / "t.json")], "--profile-trace needs --profile")):
        with pytest.raises(ValueError, match=message):
            run(parser.parse_args(["--tiny", "--shards", str(tmp_path / "none"), *flags]))


@pytest.mark.timeout(300)
def test_tiny_benchmark_applies_overrides_and_profiles_every_part_of_the_step(tmp_path):
    out = tmp_path / "report.json"
    assert run(add_and_parse(["--tiny", "--workers", "1", "--cases", "2:1", "--warmup", "1", "--steps", "2",
                              "--profile", "2", "--profile-trace", str(tmp_path / "trace" / "t.json.gz"),
                              "--synced-steps", "2", "--baseline-batch", "0", "--videos", "2", "--clip-frames", "16",
                              "--set", "model.vae_chunk=12", "--out", str(out)])) == 0
    (row,) = json.loads(out.read_text())["stages"]
    assert row["stage"] == 2 and row["frames"] == 16 and row["overrides"] == ["model.vae_chunk=12"]
    profile = row["profile"]
    assert row["step_s_synced_each_step"] > 0
    assert row["gpu_power"] is None and row["conditioning_gpu_power"] is None  # on the CPU: no card to sample
    assert row["alloc_retries_while_timed"] is None
    assert row["graphs_compiled_while_timed"] == 0  # an eager step compiles nothing
    assert profile["steps"] == 2 and set(profile["ranges"]) == {"conditioning", "forward", "loss", "backward",
                                                                "clip_grad", "optimizer", "ema"}
    assert all(r["host_s"] > 0 for r in profile["ranges"].values())
    assert profile["kernels"] is None  # no GPU kernels on the CPU
    assert row["gpu_step_time_s"] is None and profile["gpu_idle_s_per_step"] == profile["gpu_s_not_tied"] == 0
    # the named ranges lie inside the step
    assert sum(r["host_s"] for r in profile["ranges"].values()) < profile["wall_s_per_step"] * 1.05
    # the timeline of the profiled steps, gzipped: each named range of each step is an event in it
    events = json.loads(gzip.decompress((tmp_path / "trace" / "t.json.gz").read_bytes()))["traceEvents"]
    names = Counter(e.get("name") for e in events)
    assert all(names[r] == 2 for r in profile["ranges"]), {r: names[r] for r in profile["ranges"]}


def test_an_override_the_config_does_not_know_fails_before_the_run(tmp_path):
    with pytest.raises(Exception, match="no_such_field"):
        run(add_and_parse(["--tiny", "--cases", "2:1", "--baseline-batch", "0", "--shards", str(tmp_path),
                           "--set", "model.no_such_field=1"]))


def add_and_parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(argv)


def test_the_timed_window_starts_again_after_a_step_that_compiled_somewhere():
    w = TimedWindow(warmup=2, steps=3, max_restarts=1)
    # graphs compiled by all processes together, read after each step
    actions = [w.after_step(done, graphs) for done, graphs in enumerate([0, 5, 5, 5, 6, 6, 6, 6], start=1)]
    assert actions == ["warm-up", "open", "timed", "timed", "restart", "timed", "timed", "done"]
    assert w.restarts == 1
    # restarts spent: a later compile is timed (and reported as graphs compiled while timed)
    w = TimedWindow(warmup=1, steps=2, max_restarts=0)
    assert [w.after_step(d, g) for d, g in [(1, 3), (2, 4), (3, 4)]] == ["open", "timed", "done"]
    assert TimedWindow(warmup=1, steps=0, max_restarts=2).after_step(1, 3) == "done"


def test_the_gpu_clock_times_the_window_from_its_first_steps_end_and_starts_again_with_it():
    now = [0.0]  # the GPU's clock in seconds, where each step ends

    class Event:  # torch.cuda.Event's interface: recorded after a step's launches, times in ms
        def __init__(self, enable_timing):
            assert enable_timing

        def record(self):
            self.at = now[0]

        def elapsed_time(self, other):
            return (other.at - self.at) * 1e3

    w, clock = TimedWindow(warmup=2, steps=3, max_restarts=1), GpuClock(cuda=True, event=Event)
    step_s = [5.0, 0.3, 0.4, 0.3, 9.0, 0.5, 0.3, 0.3]  # compiling steps, then a window restarted at step 5
    for done, (took, graphs) in enumerate(zip(step_s, [0, 5, 5, 5, 6, 6, 6, 6]), start=1):
        now[0] += took
        action = w.after_step(done, graphs)
        clock.after_step(done, w)
    assert action == "done"
    assert clock.step_s(3) == pytest.approx(0.3)  # steps 7 and 8: the window's first step (6) left out
    assert GpuClock(cuda=False).step_s(3) is None


@pytest.mark.timeout(120)
def test_the_window_opens_at_one_moment_in_every_process(tmp_path):
    """The main process is late (it writes the compile cache when the window opens): the others
    wait for it, so no process's clock runs while it is away."""
    script = tmp_path / "late_main.py"
    script.write_text(f"""import sys, time
sys.path.insert(0, {str(REPO)!r})
import torch.distributed as dist
from tools.timed_window import cpu_group, together
dist.init_process_group("gloo")
group = cpu_group()
if dist.get_rank() == 0:
    time.sleep(2.0)
together(group)
opened = time.time()
open({str(tmp_path)!r} + f"/opened.{{dist.get_rank()}}", "w").write(repr(opened))
dist.destroy_process_group()
""")
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                           str(script)], capture_output=True, text=True, timeout=100)
    assert proc.returncode == 0, proc.stderr[-3000:]
    opened = [float((tmp_path / f"opened.{rank}").read_text()) for rank in (0, 1)]
    assert abs(opened[0] - opened[1]) < 0.5  # 2 s apart without the wait


@pytest.mark.timeout(300)
def test_two_processes_time_the_steps_after_the_one_that_compiled(tmp_path):
    """Under torchrun both processes compile at the first timed step (the step after FLOP counting):
    each restarts its window there, together, and times only compiled steps. The main process
    writes the one report, with both processes' figures."""
    args = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
            "-m", "tools.bench_train", "--tiny", "--workers", "0", "--cases", "2:1:compile", "--set", "model.compile_backend=aot_eager",
            "--warmup", "1", "--steps", "2", "--baseline-batch", "0", "--videos", "2", "--clip-frames", "16",
            "--out", str(tmp_path / "report.json")]
    proc = subprocess.run(args, cwd=REPO, capture_output=True, text=True, timeout=280)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = [json.loads(line[line.index("{"):]) for line in proc.stderr.splitlines() if '{"step_time_s"' in line]
    assert len(rows) == 2  # one per process
    compiling = [float(t) for t in re.findall(r"timed step 2 took ([\d.]+) s", proc.stderr)]
    assert len(compiling) == 2
    for row in rows:
        assert row["timing_restarts"] == 1 and row["graphs_compiled_while_timed"] == 0
        assert row["step_time_s"] < min(compiling) / 3
    (stage,) = json.loads((tmp_path / "report.json").read_text())["stages"]
    assert stage["processes"] == 2
    assert sorted(stage["step_time_s_each"]) == pytest.approx(sorted(r["step_time_s"] for r in rows), rel=1e-3)
    assert stage["frames_per_s_all"] == pytest.approx(sum(r["frames_per_s"] for r in rows), rel=1e-3)
    assert stage["frames_per_s_all"] > 1.5 * max(r["frames_per_s"] for r in rows)
    assert proc.stdout.count('"stages"') == 1  # one process prints the report


@pytest.mark.gpu
@pytest.mark.timeout(600)
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_on_a_gpu_the_step_never_waits_is_timed_on_the_gpu_clock_and_profiled_record_by_record(tmp_path):
    out, steps = tmp_path / "report.json", 4
    write_shard_folder(tmp_path / "shards", 4, clips_per_shard=2, num_frames=16, hw=(64, 80))  # no Ray needed
    assert run(add_and_parse(["--tiny", "--workers", "1", "--cases", "2:1:compile", "--warmup", "4", "--steps", str(steps),
                              "--profile", "3", "--sync-check", "2", "--baseline-batch", "0",
                              "--shards", str(tmp_path / "shards"), "--set", "cpu=false",
                              "--set", "model.compile_mode=reduce-overhead", "--out", str(out)])) == 0
    (row,) = json.loads(out.read_text())["stages"]
    assert row["synchronizing_calls"] == []  # the step never makes the host wait for the GPU
    # from the first timed step's end to the last's: within the host's clock over the whole window
    assert 0 < row["gpu_step_time_s"] * (steps - 1) <= row["step_time_s"] * steps * 1.01
    profile = row["profile"]
    # every record tied to the call that launched it, the replayed graphs' kernels too: little is left outside the ranges
    for name in ("conditioning", "forward", "backward", "optimizer"):
        assert profile["ranges"][name]["gpu_s"] > 0, name
    assert profile["gpu_s_outside_ranges"] < 0.2 * profile["kernel_s_per_step"]
    assert profile["gpu_s_not_tied"] < 0.05 * profile["kernel_s_per_step"]
    # idle stretches lie between the records: with the busy time, within the wall time
    assert profile["gpu_busy_s_per_step"] + profile["gpu_idle_s_per_step"] <= profile["wall_s_per_step"] * 1.01
    assert sum(profile["gpu_idle_s_by_gap_size"].values()) == pytest.approx(profile["gpu_idle_s_per_step"])
    assert profile["longest_gaps"] and all(g["waiting_for"] and g["after"] for g in profile["longest_gaps"])
