"""``aa2 synth``: write a synthetic crawl (mp4 videos, exact ground-truth sidecars, manifest).

With ``--preview`` it also writes one contact sheet per video under ``OUT/previews/``, made from
what was written (the decoded mp4 and the loaded sidecar), so the sheets show what a consumer of
the crawl gets.
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from dataclasses import fields
from pathlib import Path

import pyarrow.parquet as pq

from dataset.synthetic import MOTIONS, OBJECTS, SynthConfig, contact_sheet, load_sidecar, write_crawl
from dataset.video import decode_mp4

_DEFAULTS = {f.name: f.default for f in fields(SynthConfig)}


def _names(text: str) -> tuple[str, ...]:
    return tuple(n for n in (s.strip() for s in text.split(",")) if n)


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "synth",
        help="write a synthetic character crawl with exact ground truth",
        description="Render deterministic synthetic character videos with masks, keypoints and depth.",
    )
    p.add_argument("out", type=Path, help="output folder (videos/, sidecars/, manifest.parquet)")
    p.add_argument("--num-videos", type=int, default=_DEFAULTS["num_videos"], help="how many videos")
    p.add_argument("--seed", type=int, default=_DEFAULTS["seed"], help="crawl seed")
    p.add_argument("--height", type=int, default=_DEFAULTS["height"], help="frame height in pixels")
    p.add_argument("--width", type=int, default=_DEFAULTS["width"], help="frame width in pixels")
    p.add_argument("--frames", type=int, default=_DEFAULTS["num_frames"], help="frames per video")
    p.add_argument("--fps", type=float, default=_DEFAULTS["fps"], help="frame rate")
    p.add_argument("--motions", type=_names, default=MOTIONS, help=f"comma list from {','.join(MOTIONS)}")
    p.add_argument("--objects", type=_names, default=OBJECTS, help=f"comma list from {','.join(OBJECTS)}")
    p.add_argument("--workers", type=int, default=1, help="render videos in this many processes")
    p.add_argument("--preview", action="store_true", help="also write contact sheets to OUT/previews/")
    p.set_defaults(func=run)


def write_previews(out: Path, manifest: Path) -> list[Path]:
    """One contact sheet per manifest row, from the written mp4 and sidecar."""
    sheets = []
    for row in pq.read_table(manifest).to_pylist():
        video = load_sidecar(out / row["sidecar"])
        video.frames = decode_mp4((out / row["path"]).read_bytes(), size=(row["height"], row["width"]))
        sheets.append(contact_sheet(video, out / "previews" / f"{row['name']}.png"))
    return sheets


def run(args: argparse.Namespace) -> int:
    try:
        config = SynthConfig(
            seed=args.seed, num_videos=args.num_videos, height=args.height, width=args.width,
            num_frames=args.frames, fps=args.fps, motions=args.motions, objects=args.objects,
        )  # fmt: skip
    except ValueError as exc:
        print(f"aa2 synth: {exc}")
        return 2
    if args.workers < 1:
        print(f"aa2 synth: --workers must be >= 1, got {args.workers}")
        return 2
    start = time.perf_counter()
    manifest = write_crawl(args.out, config, workers=args.workers)
    seconds = time.perf_counter() - start
    rows = pq.read_table(manifest).to_pylist()
    print(f"wrote {len(rows)} synthetic videos ({config.height}x{config.width}, {config.num_frames} frames "
          f"at {config.fps:g} fps) to {args.out} in {seconds:.1f} s: {len(rows) / max(seconds, 1e-9):.2f} clips/s")  # fmt: skip
    print(f"manifest: {manifest}")
    print("motions: " + ", ".join(f"{k} {v}" for k, v in sorted(Counter(r["motion"] for r in rows).items())))
    objects = Counter(o for r in rows for o in r["objects"])
    print("objects: " + (", ".join(f"{k} {v}" for k, v in sorted(objects.items())) or "none"))
    if args.preview:
        sheets = write_previews(Path(args.out), manifest)
        print(f"previews: {len(sheets)} contact sheets in {Path(args.out) / 'previews'}")
    return 0
