"""Benchmark of the preprocessing job: clips/min on Ray Data and with the same stages called directly.

    python -m tools.bench_preprocess --synthetic 16 --backend oracle      # synthetic crawl, exact oracle
    python -m tools.bench_preprocess --input videos_of_people/ --backend lite

Each engine writes into its own fresh output folder. ``ray.init`` is timed apart from the run
(a long-lived cluster pays it once), so ``ray_over_direct`` is the ratio of pipeline wall times:
Ray Data's scheduling, serialisation and actor start-up against a plain loop in one process.
Prints one JSON object (machine, date, figures).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

from preprocess.config import PreprocessConfig, apply_overrides
from preprocess.pipeline import run_preprocess

ROLES = ("localise", "segment", "pose", "depth")


def synthetic_input(folder: Path, num_videos: int) -> str:
    from dataset.synthetic import SynthConfig, write_crawl

    return str(write_crawl(folder, SynthConfig(seed=7, num_videos=num_videos, num_frames=64, fps=16.0)))


def timed_run(input: str, out: Path, config: PreprocessConfig, engine: str) -> dict:
    start = time.perf_counter()
    summary = run_preprocess(input, out, config, engine=engine)
    wall = time.perf_counter() - start
    return {"wall_s": round(wall, 2), "clips": summary["clips"], "frames": summary["frames"],
            "clips_per_min": round(summary["clips"] / wall * 60, 1),
            "stage_share": {k: v["share_of_worker_time"] for k, v in summary["stages"].items()}}


def machine() -> dict:
    return {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
            "processor": platform.processor() or platform.machine()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--input", help="folder, glob or manifest of videos")
    source.add_argument("--synthetic", type=int, metavar="N", help="render a synthetic crawl of N videos")
    parser.add_argument("--backend", default="oracle", help="backend for all four annotator roles")
    parser.add_argument("--num-cpus", type=int, default=os.cpu_count())
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args(argv)
    overrides = [f"annotate.{role}={args.backend}" for role in ROLES] + args.set
    config = apply_overrides(PreprocessConfig(), overrides)
    with tempfile.TemporaryDirectory(prefix="bench_preprocess_") as tmp:
        tmp = Path(tmp)
        input = synthetic_input(tmp / "crawl", args.synthetic) if args.synthetic else args.input
        direct = timed_run(input, tmp / "direct", config, "local")
        import ray

        start = time.perf_counter()
        ray.init(num_cpus=args.num_cpus, num_gpus=0, include_dashboard=False)
        init_s = time.perf_counter() - start
        try:
            on_ray = timed_run(input, tmp / "ray", config, "ray")
        finally:
            ray.shutdown()
    report = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "command": " ".join(["python -m tools.bench_preprocess", *(argv or sys.argv[1:])]),
              "machine": machine(), "backend": args.backend, "direct": direct, "ray": on_ray,
              "ray_init_s": round(init_s, 2), "ray_over_direct": round(on_ray["wall_s"] / direct["wall_s"], 2)}
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
