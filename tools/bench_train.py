"""``aa2 bench-train``: the real training step, fed by the real shard loader, timed.

Runs the :class:`train.trainer.Trainer` of a recipe (``stage1``, ``stage2``) with full-size SD 1.5
+ AnimateDiff dimensions and random weights (same FLOPs and memory as pretrained ones) on shards
read through the streaming loader with its worker processes, and reports per stage: step time,
samples and frames per second, peak memory, counted FLOPs per step (every module the step runs: VAE
and CLIP encoding, ReferenceNet, DenoisingNet, guiders; forward and backward), achieved TFLOP/s,
MFU against the card's dense bf16 peak, and the fraction of wall time spent waiting for data. The
plain SD 1.5 UNet baseline of ``aa2 bench-model`` runs in the same process. ``--profile N`` then
runs N more steps under ``torch.profiler`` and reports where the step's time goes
(:mod:`tools.step_profile`): per named range (conditioning, forward, loss, backward, clip_grad,
optimizer, ema) its host time, the GPU time of the work launched in it and the GPU's idle time
before that work, the fraction of wall time the GPU had a kernel running, and the costliest
kernels: GPU time by kernel family (attention, convolution, layout transposes, matrix products,
Triton, other) and by kernel name, for the whole step and per range. On a GPU the report also gives
``gpu_step_time_s``: the GPU's time a step over the timed window without its first step, which
starts on an idle GPU (:class:`tools.timed_window.GpuClock`), and ``gpu_power``: the card's SM
clock and power over the timed window and how often its power cap held the clock down
(:mod:`tools.gpu_power`; ``conditioning_gpu_power`` the same while the conditioning passes are
timed alone), and ``alloc_retries_while_timed``: how often the CUDA caching allocator had to empty
its cache to find memory in the timed window. Each warm-up step's time is logged,
and so is any timed step slower than ``--slow-step-s``, with the number of Dynamo graphs compiled
so far; the report gives the graphs compiled while timed (``--log-recompiles`` prints Dynamo's
reasons); a timed step in which any process compiled starts the timed window again
(``--max-restarts``). ``--synced-steps N`` times N more steps that wait for the GPU after each, to
show what a host read-back per step costs; ``--sync-check N`` runs N more in CUDA's sync debug mode
and lists the calls that made the host wait for the GPU (none is expected). Without ``--shards`` it
first writes a synthetic crawl and preprocesses it (oracle annotators, no Ray), so the benchmark
needs nothing but this repository. Under ``accelerate launch`` each process logs its own row, and
the main process's report adds every process's step time and the run's summed throughput
(``frames_per_s_all``).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import tempfile
import time
from pathlib import Path

from tools.step_profile import KERNELS_BY_NAME, profile_steps, synchronizing_calls

log = logging.getLogger(__name__)
REPO = Path(__file__).resolve().parents[1]  # call sites under it are reported by --sync-check


def make_shards(folder: Path, videos: int, size: int, frames: int) -> Path:
    from dataset.synthetic import SynthConfig, write_crawl
    from preprocess.config import PreprocessConfig, apply_overrides
    from preprocess.pipeline import run_preprocess

    write_crawl(folder / "crawl", SynthConfig(seed=0, num_videos=videos, height=size, width=size,
                                              num_frames=frames, fps=15.0), workers=8)
    config = apply_overrides(PreprocessConfig(), ["clips.target_fps=null", f"clips.clip_frames={frames}",
                                                  "clips.min_frames=16", "clips.short_side=null"])
    run_preprocess(str(folder / "crawl"), folder / "out", config, engine="local")
    return folder / "out" / "shards"


def parse_case(text: str) -> tuple[int, int, bool]:
    """``STAGE:BATCH[:compile]`` -> (stage, batch, compile)."""
    parts = text.split(":")
    if len(parts) not in (2, 3) or parts[0] not in ("1", "2") or (len(parts) == 3 and parts[2] != "compile"):
        raise argparse.ArgumentTypeError(f"case {text!r}: expected STAGE:BATCH or STAGE:BATCH:compile, e.g. 2:1:compile")
    return int(parts[0]), int(parts[1]), len(parts) == 3


def most_steps(args: argparse.Namespace) -> int:
    """Steps a case may run: warm-up, then the timed window and each of its restarts."""
    return args.warmup + args.steps * (1 + args.max_restarts)


def stage_config(stage: int, args: argparse.Namespace, shards: Path, out: Path, batch: int, compile: bool):
    from train.config import TrainConfig
    from dataset.config_io import load_config
    from train.recipes import recipe

    overrides = [
        f"data.train_shards={shards}", f"output_dir={out}", "model.arch=tiny" if args.tiny else "model.arch=sd15",
        f"max_steps={most_steps(args)}", "optim.warmup_steps=0", "log.tracker=none",
        f"data.num_workers={args.workers}", f"data.batches_per_epoch={10 * most_steps(args)}",
        f"model.gradient_checkpointing={str(args.checkpointing).lower()}", "checkpoint.resume=null",
        f"model.compile={str(compile).lower()}", f"data.batch_size={batch}",
        "model.compile_cache=null",  # the run's folder is temporary; `--set model.compile_cache=PATH` keeps one
    ]
    if args.tiny:
        overrides += ["cpu=true", "mixed_precision=no", "data.sample.height=64", "data.sample.width=64"]
    if stage == 2:
        overrides.append(f"data.sample.num_frames={args.frames}")
    overrides += args.set
    return load_config(TrainConfig, recipe(f"stage{stage}"), None, overrides)


def time_conditioning(trainer, batch, repeats: int) -> float:
    """Seconds per step of the frozen VAE and image-encoder passes alone (part of the step time)."""
    import torch

    from train.conditioning import build_inputs

    cuda = batch.frames.device.type == "cuda"
    c, options = trainer.components, trainer.accelerator.unwrap_model(trainer.model).spec

    def run() -> None:  # as Trainer.compute_loss calls it: outside autocast (the frozen models hold bf16 weights)
        build_inputs(batch, c.vae, c.image_encoder, options, **trainer.vae_options())
        if cuda:
            torch.cuda.synchronize()

    run()
    start = time.perf_counter()
    for _ in range(repeats):
        run()
    return (time.perf_counter() - start) / repeats


def alloc_retries(device) -> int | None:
    """Times the CUDA caching allocator so far found no free block, emptied its cache and asked the
    driver again (slow, and it synchronises): a step near the card's memory pays it. None on the CPU."""
    import torch

    return torch.cuda.memory_stats(device).get("num_alloc_retries", 0) if device.type == "cuda" else None


def measure_stage(stage: int, batch_size: int, compile: bool, args: argparse.Namespace, shards: Path) -> dict:
    import torch

    from train.metrics import StepMeter, compiled_graphs as graphs, peak_memory_gib, peak_tflops
    from tools.gpu_power import PowerSampler
    from tools.timed_window import GpuClock, TimedWindow, across_processes, cpu_group, graphs_everywhere, together
    from train.trainer import Trainer

    with tempfile.TemporaryDirectory() as out:
        trainer = Trainer(stage_config(stage, args, shards, Path(out), batch_size, compile))
        device = trainer.accelerator.device
        meter, steps, last, graphs_before = StepMeter(), 0, time.perf_counter(), graphs()
        window, group = TimedWindow(args.warmup, args.steps, args.max_restarts), cpu_group()
        clock = GpuClock(device.type == "cuda")
        power = PowerSampler.for_device(device) if device.type == "cuda" else None
        retries = alloc_retries(device)
        for batch in trainer.loader:
            meter.data_ready()
            trainer.train_step(batch)
            steps += 1
            action = window.after_step(steps, graphs_everywhere(group) if steps >= args.warmup else 0)
            clock.after_step(steps, window)
            # as the training loop runs: the host waits for the GPU only when it reads a figure, so it
            # prepares the next step while the GPU runs this one; the window's last step waits for all
            if device.type == "cuda" and action != "timed":
                torch.cuda.synchronize()
            meter.step_done(len(batch), len(batch) * batch.num_frames)
            took = time.perf_counter() - last
            # the first steps count FLOPs and compile: say how long they take; later, a slow step
            # (a host-side stall such as a recompilation) is reported as it happens
            if steps <= args.warmup or took > args.slow_step_s:
                log.info("stage %d, batch %d: %s step %d took %.1f s (%d Dynamo graphs compiled so far)", stage,
                         batch_size, "warm-up" if steps <= args.warmup else "timed", steps, took, graphs())
            last = time.perf_counter()
            if action == "open":
                if trainer.compile_cache is not None:  # written for a later run to load
                    trainer.update_compile_cache()
                if device.type == "cuda":
                    torch.cuda.reset_peak_memory_stats()
            if action == "restart":
                log.info("stage %d, batch %d: a process compiled a graph in timed step %d; timing %d steps again",
                         stage, batch_size, steps, args.steps)
            if action in ("open", "restart"):
                together(group)
                graphs_before = graphs()
                meter.reset()
                retries = alloc_retries(device)
                if power is not None:
                    power.start()
            if action == "done":
                break
        row = meter.summary(trainer.flops_per_step, peak_tflops(device))
        row["gpu_step_time_s"] = clock.step_s(args.steps)  # the window's first step left out
        row["graphs_compiled_while_timed"] = graphs() - graphs_before
        row["timing_restarts"] = window.restarts
        row["gpu_power"] = power.stop() if power is not None else None
        row["alloc_retries_while_timed"] = alloc_retries(device) - retries if retries is not None else None
        if args.synced_steps:  # the same steps with a wait for the GPU after each: what host read-backs cost
            synced = StepMeter()
            for _, batch in zip(range(args.synced_steps), trainer.loader):
                synced.data_ready()
                trainer.train_step(batch)
                if device.type == "cuda":
                    torch.cuda.synchronize()
                synced.step_done(len(batch), len(batch) * batch.num_frames)
            row["step_s_synced_each_step"] = synced.summary(None, None)["step_time_s"]
        if args.sync_check and device.type == "cuda":  # where the host waits for the GPU, if anywhere

            def steps_as_the_loop_runs() -> None:
                for _, batch in zip(range(args.sync_check), trainer.loader):
                    trainer.train_step(batch)

            row["synchronizing_calls"] = synchronizing_calls(steps_as_the_loop_runs, REPO)
            torch.cuda.synchronize()
        profiled = None
        if args.profile:
            batches = [b.to(device) for _, b in zip(range(args.profile), trainer.loader)]
            trace = Path(args.profile_trace) if args.profile_trace else None
            profiled = profile_steps(trainer, batches, kernels=args.profile_kernels, trace=trace)
        if power is not None:
            power.start()
        row["conditioning_s"] = time_conditioning(trainer, batch.to(device), args.steps)
        row["conditioning_gpu_power"] = power.stop() if power is not None else None
        row.update(stage=stage, batch=trainer.config.data.batch_size, frames=batch.num_frames,
                   tflop_per_step=trainer.flops_per_step / 1e12, peak_memory_gib=peak_memory_gib(device),
                   trainable_params_M=sum(p.numel() for p in trainer.params) / 1e6,
                   checkpointing=args.checkpointing, compiled=compile, workers=args.workers, overrides=args.set)
        row = across_processes(group, row)
        del trainer
    if profiled:
        log.info("profile of %d steps (batches already on the device):\n%s", profiled["steps"], profiled["table"])
        row["profile"] = profiled
    log.info("%s", json.dumps(row))
    return _rounded(row)


def _rounded(value):
    if isinstance(value, float):
        return round(value, 4)
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    return value


def baseline(args: argparse.Namespace) -> dict:
    from tools.bench_model import BenchCase, run_case

    bench_args = argparse.Namespace(tiny=args.tiny, latent=8 if args.tiny else 64, warmup=args.warmup,
                                    steps=args.steps, device="cpu" if args.tiny else "cuda")
    return run_case(BenchCase("baseline", 0, args.baseline_batch, 1, False), bench_args)


def run(args: argparse.Namespace) -> int:
    import torch

    if args.warmup < 1:
        raise ValueError("--warmup must be at least 1: the first step counts FLOPs on the eager model and compiles")
    if args.profile_kernels < 0:
        raise ValueError("--profile-kernels must be 0 (every kernel) or more")
    if args.profile_trace and not args.profile:
        raise ValueError("--profile-trace needs --profile N: the trace is of the profiled steps")
    if args.log_recompiles:
        torch._logging.set_logs(recompiles=True)
    started = time.strftime("%Y-%m-%d %H:%M", time.gmtime())
    shards = Path(args.shards) if args.shards else make_shards(Path(tempfile.mkdtemp()), args.videos,
                                                                   64 if args.tiny else 512, args.clip_frames)
    report = {"date_utc": started, "torch": torch.__version__,
              "device": torch.cuda.get_device_name() if torch.cuda.is_available() and not args.tiny else "cpu",
              "baseline": None, "vae": None, "stages": []}

    main = int(os.environ.get("RANK", "0")) == 0  # under torchrun or accelerate launch, one report

    def save() -> None:  # after every measurement: a run cut short keeps what it measured
        if args.out and main:
            Path(args.out).write_text(json.dumps(report, indent=2))

    if args.baseline_batch:
        report["baseline"] = baseline(args)
        save()
    if args.vae_images:
        from tools.bench_vae import bench_vae

        report["vae"] = bench_vae(args.vae_images, 64 if args.tiny else 512, args.steps, args.tiny, args.vae_ways.split(","),
                                  args.vae_chunk)
        log.info("%s", json.dumps(report["vae"]))
        save()
    cases = args.cases or [(s, args.stage1_batch if s == 1 else args.stage2_batch, args.compile) for s in args.stages]
    for stage, batch, compile in cases:
        report["stages"].append(measure_stage(stage, batch, compile, args, shards))
        save()
    if main:
        print(json.dumps(report, indent=2))
    return 0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--shards", help="shard folder; default: make synthetic shards first")
    parser.add_argument("--videos", type=int, default=12, help="synthetic videos when making shards")
    parser.add_argument("--clip-frames", type=int, default=48, help="frames per synthetic clip")
    parser.add_argument("--stages", type=int, nargs="*", default=[2, 1],
                        help="stages to measure (none: only the baseline and --vae-images)")
    parser.add_argument("--stage1-batch", type=int, default=4)
    parser.add_argument("--stage2-batch", type=int, default=1)
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--workers", type=int, default=8, help="data loader workers")
    parser.add_argument("--checkpointing", action="store_true", help="gradient checkpointing")
    parser.add_argument("--compile", action="store_true", help="torch.compile the model and the VAE encoder")
    parser.add_argument("--cases", type=parse_case, nargs="+",
                        help="STAGE:BATCH[:compile] cases to measure, e.g. 2:1 2:1:compile 1:8 (instead of --stages)")
    parser.add_argument("--vae-images", type=int, default=0, help="also time the VAE encoder alone on this many images")
    parser.add_argument("--vae-ways", default="eager,eager_benchmark,compiled,compiled_channels_last",
                        help="ways of running the VAE encoder to time, comma-separated (tools.bench_vae.WAYS)")
    parser.add_argument("--vae-chunk", type=int, default=16, help="images per VAE encoder call with --vae-images")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="training-config override for every case, e.g. model.compile_vae=true (repeatable)")
    parser.add_argument("--profile", type=int, default=0, metavar="N",
                        help="after the timed steps, profile N more steps (where the step's time goes)")
    parser.add_argument("--profile-kernels", type=int, default=KERNELS_BY_NAME, metavar="K",
                        help="with --profile, the K costliest kernels by name per range (0: every kernel)")
    parser.add_argument("--profile-trace", metavar="FILE",
                        help="with --profile, also write the profiled steps' timeline (Chrome trace JSON, "
                             "gzipped if FILE ends in .gz; open it in Perfetto)")
    parser.add_argument("--slow-step-s", type=float, default=10.0, metavar="S",
                        help="log each timed step whose host time exceeds S seconds, with Dynamo's graph count")
    parser.add_argument("--log-recompiles", action="store_true",
                        help="print why Dynamo recompiles a graph (torch._logging recompiles)")
    parser.add_argument("--synced-steps", type=int, default=0, metavar="N",
                        help="after the timed steps, time N more that wait for the GPU after each "
                             "(how the earlier rows of BENCHMARKS.md were timed): step_s_synced_each_step")
    parser.add_argument("--sync-check", type=int, default=0, metavar="N",
                        help="on a GPU, after the timed steps, run N more in CUDA's sync debug mode and report every "
                             "call that made the host wait for the GPU, by call site (synchronizing_calls)")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--max-restarts", type=int, default=3,
                        help="times the timed window may start again after a step in which some process compiled")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--baseline-batch", type=int, default=16, help="0 skips the SD 1.5 baseline")
    parser.add_argument("--tiny", action="store_true", help="tiny model on the CPU (checks the benchmark itself)")
    parser.add_argument("--out", help="also write the JSON report here")


def register(subparsers) -> None:
    parser = subparsers.add_parser("bench-train", help="benchmark the training step with the real loader",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    parser.set_defaults(func=run)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    logging.getLogger("accelerate").setLevel(logging.WARNING)
    cli = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(cli)
    raise SystemExit(run(cli.parse_args()))
