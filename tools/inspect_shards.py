"""``aa2 inspect SHARDS``: what a shard folder holds, and pictures of one training sample.

Prints counts, sizes (per member), schema versions, keypoint formats, annotators and a table of
manifest statuses (read from the parquet manifests). ``--render OUT.png`` builds one training
sample exactly as the trainer would and writes every condition side by side to ``OUT.png`` and
``OUT.mp4``.
"""

from __future__ import annotations

import argparse
import json
import logging
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow.compute as pc

from dataset.sample_config import SampleConfig
from dataset.schema import decode_sample
from dataset.shards import iter_raw_samples, list_shards, read_manifests
from dataset.training_sample import build_sample

from .sample_sheet import write_sample_pictures

log = logging.getLogger(__name__)


def register(subparsers) -> None:
    p = subparsers.add_parser("inspect", help="summarise a shard folder; render one training sample",
                              description="Summarise shards and their manifests; optionally render one sample.")
    p.add_argument("shards", type=Path, help="folder of shard tars and parquet manifests")
    p.add_argument("--render", type=Path, metavar="OUT.png", help="write OUT.png and OUT.mp4 of one sample")
    p.add_argument("--key", help="clip key to render (default: the first sample)")
    p.add_argument("--size", type=int, default=256, help="sample height and width in pixels (multiple of 8)")
    p.add_argument("--frames", type=int, default=16, help="frames per sample")
    p.add_argument("--stride", type=int, default=2, help="frame stride")
    p.add_argument("--seed", type=int, default=0, help="augmentation seed")
    p.add_argument("--eval", action="store_true", help="inference rules: no random crop/scale, k = h/10")
    p.set_defaults(func=run)


def _megabytes(n: float) -> str:
    return f"{n / 1e6:.1f} MB"


def _counts(values) -> str:
    return ", ".join(f"{k} x{v}" for k, v in Counter(values).most_common()) or "-"


def summary_lines(folder: Path) -> list[str]:
    shards = list_shards(folder)
    table = read_manifests(folder)
    lines = [f"{folder}: {len(shards)} shards, {_megabytes(sum(p.stat().st_size for p in shards))}, "
             f"{table.num_rows} manifest rows"]
    if table.num_rows == 0:
        return lines
    for col in (c for c in table.column_names if c.startswith("bytes_")):
        total = pc.sum(table[col]).as_py() or 0
        lines.append(f"  {col[6:]:<10} {_megabytes(total):>10}  ({total / table.num_rows / 1e3:.1f} kB per clip)")
    names = table.column_names
    lines.append(f"  schema versions: {_counts(table['schema_version'].to_pylist())}")
    lines.append(f"  keypoint formats: {_counts(table['keypoint_format'].to_pylist())}")
    annot = [f"{role}={name}" for raw in table["annotators"].to_pylist() for role, name in json.loads(raw).items()]
    lines.append(f"  annotators: {_counts(annot)}")
    frames = np.asarray(table["num_frames"].to_pylist())
    lines.append(f"  frames per clip: min {frames.min()}, median {int(np.median(frames))}, max {frames.max()}")
    sizes = zip(table["width"].to_pylist(), table["height"].to_pylist())
    lines.append(f"  sizes: {_counts(f'{w}x{h}' for w, h in sizes)}")
    reasons = table["reason"].to_pylist() if "reason" in names else [""] * table.num_rows
    lines.append("  status      reason                      clips")
    for (status, reason), n in sorted(Counter(zip(table["status"].to_pylist(), reasons)).items()):
        lines.append(f"  {status:<11} {reason or '-':<27} {n:>5}")
    return lines


def find_clip(folder: Path, key: str | None):
    for tar in list_shards(folder):
        for raw in iter_raw_samples(tar):
            if key is None or raw["__key__"] == key:
                return decode_sample(raw)
    raise SystemExit(f"no sample {key!r} in {folder}")


def run(args: argparse.Namespace) -> int:
    if not list_shards(args.shards):
        log.error("no shard tars in %s", args.shards)
        return 1
    print("\n".join(summary_lines(args.shards)))
    if args.render:
        clip = find_clip(args.shards, args.key)
        config = SampleConfig(height=args.size, width=args.size, num_frames=args.frames, stride=args.stride,
                              train=not args.eval)
        sample = build_sample(clip, config, np.random.default_rng(args.seed))
        png, mp4 = write_sample_pictures(sample, args.render, fps=clip.meta.fps / config.stride)
        print(f"rendered {clip.key} (frames {sample.frame_indices.tolist()}, scale {sample.scale:.2f}): {png}, {mp4}")
    return 0
