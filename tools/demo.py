"""``aa2 demo``: the whole path on the local machine, no weights, no GPU, no cluster.

1. writes a small synthetic crawl of character videos with exact ground truth (``aa2 synth``);
2. preprocesses it on a local Ray cluster with the oracle annotators into schema-v1 shards
   (``aa2 preprocess``), plus two held-out videos for validation;
3. trains the tiny recipe on the CPU from those shards (``python -m train --recipe tiny``);
4. writes a validation preview (PNG grid and mp4) and says where everything is.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

log = logging.getLogger(__name__)


def _crawl(out: Path, num_videos: int, seed: int) -> Path:
    from dataset.synthetic import SynthConfig, write_crawl

    write_crawl(out, SynthConfig(seed=seed, num_videos=num_videos, height=128, width=128, num_frames=24, fps=8.0))
    return out


def _preprocess(crawl: Path, out: Path, num_cpus: int) -> dict:
    from preprocess.config import PreprocessConfig, apply_overrides
    from preprocess.pipeline import run_preprocess

    config = apply_overrides(PreprocessConfig(), [
        "clips.target_fps=null", "clips.clip_frames=24", "clips.min_frames=8", "clips.short_side=null",
        f"ray.num_cpus={num_cpus}", "ray.progress_every_s=30",
    ])
    return run_preprocess(str(crawl), out, config, engine="ray")


def _train_config(train_shards: Path, val_shards: Path, out: Path, steps: int):
    from train.config import TrainConfig
    from dataset.config_io import load_config
    from train.recipes import recipe

    return load_config(TrainConfig, recipe("tiny"), None, [
        f"data.train_shards={train_shards}", f"data.val_shards={val_shards}", f"output_dir={out}",
        f"max_steps={steps}", f"optim.warmup_steps={min(10, steps // 4)}", f"log.val_every_steps={steps}",
        f"checkpoint.every_steps={steps}", "checkpoint.resume=null",
    ])


def run(args: argparse.Namespace) -> int:
    from train.trainer import Trainer

    out = Path(args.out)
    started = time.perf_counter()
    train_config = _train_config(out / "preprocessed" / "shards", out / "preprocessed_val" / "shards",
                                 out / "train", args.steps)  # a bad setting fails before any work
    crawl = _crawl(out / "crawl", args.videos, seed=0)
    held_out = _crawl(out / "crawl_val", 2, seed=1)
    log.info("synthetic crawl: %s (%d videos) and %s (2 held out)", crawl, args.videos, held_out)
    summary = _preprocess(crawl, out / "preprocessed", args.num_cpus)
    _preprocess(held_out, out / "preprocessed_val", args.num_cpus)
    result = Trainer(train_config).train()
    previews = sorted((out / "train" / "previews").glob("*.png"))
    report = {
        "crawl": str(crawl),
        "shards": str(out / "preprocessed" / "shards"),
        "preprocess": {k: summary[k] for k in ("counts", "clips", "frames") if k in summary},
        "trained_steps": result["step"],
        "last_metrics": {k: round(v, 5) for k, v in result["last"].items() if isinstance(v, float)},
        "exported_model": result["export"],
        "preview_png": str(previews[-1]) if previews else None,
        "preview_mp4": str(previews[-1].with_suffix(".mp4")) if previews else None,
        "tensorboard": f"tensorboard --logdir {out / 'train' / 'logs'}",
        "wall_time_s": round(time.perf_counter() - started, 1),
    }
    print(json.dumps(report, indent=2))
    print(f"\nOpen {report['preview_png']} (rows: target, environment, skeleton, generated; "
          f"reference on the left) and {report['preview_mp4']}.")
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser("demo", help="synthetic crawl -> Ray preprocessing -> shards -> tiny CPU training -> preview",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="outputs/demo", help="output folder")
    parser.add_argument("--videos", type=int, default=12, help="synthetic videos to generate")
    parser.add_argument("--steps", type=int, default=150, help="training steps of the tiny recipe")
    parser.add_argument("--num-cpus", type=int, default=2, help="CPUs of the local Ray cluster")
    parser.set_defaults(func=run)
