"""``aa2 bench-dataset``: training samples per second per worker process, and where the time goes.

Builds a small shard folder whose pixels are real videos of people (``--real A.mp4 B.mp4``) cut into clips and re-encoded as preprocessing would, annotated with masks, keypoints
and depth from the synthetic world at the same size (the timing depends on array sizes, not on
whether the annotation fits the person), in the production keypoint format ``goliath_308``
with hands. Then, in one process pinned to one thread (as a DataLoader worker is), it builds
samples from the raw tar samples exactly as the stream does, timing each stage;
``--loader-workers N`` also measures N real DataLoader workers end to end. Finally it says how
many workers per GPU keep data waiting under 2% of a training step of ``--step-time`` seconds.
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from dataset.batch import collate
from dataset.keypoint_formats import OPENPOSE_18, get_format
from dataset.sample_config import SampleConfig
from dataset.schema import ClipMeta, ClipSample
from dataset.shards import ShardWriter, iter_raw_samples, list_shards
from dataset.stage_timer import StageTimer
from dataset.stream import ShardStream, StreamConfig
from dataset.stream_loader import StreamLoader
from dataset.synthetic import SynthConfig, render_video
from dataset.training_sample import build_sample_raw
from dataset.video import decode_mp4, encode_mp4



def register(subparsers) -> None:
    p = subparsers.add_parser("bench-dataset", help="benchmark the training-sample pipeline",
                              description="Samples/s per worker process and time per stage.")
    p.add_argument("--shards", type=Path, help="benchmark these shards instead of building a folder")
    p.add_argument("--real", nargs="*", default=[], help="mp4 files of people giving the pixels (without --shards)")
    p.add_argument("--clips", type=int, default=4, help="clips to build")
    p.add_argument("--clip-frames", type=int, default=48, help="frames per stored clip")
    p.add_argument("--size", type=int, default=512, help="sample height and width")
    p.add_argument("--frames", type=int, default=16, help="frames per sample")
    p.add_argument("--mode", choices=("video", "image"), default="video", help="stage 2 (video) or stage 1 (image)")
    p.add_argument("--stride", type=int, default=2, help="frame stride")
    p.add_argument("--samples", type=int, default=16, help="samples to time (after 2 warm-up samples)")
    p.add_argument("--loader-workers", type=int, default=0, help="also time a DataLoader with N workers")
    p.add_argument("--step-time", type=float, default=0.6, help="seconds per training step on the GPU")
    p.add_argument("--batch", type=int, default=1, help="samples per GPU per step")
    p.set_defaults(func=run)


def _as_goliath(openpose: np.ndarray) -> np.ndarray:
    """openpose_18 [T, 18, 3] -> goliath_308 with the body copied and both hands spread at the wrists."""
    fmt = get_format("goliath_308")
    out = np.zeros((len(openpose), fmt.num_joints, 3), np.float32)
    for i, name in enumerate(OPENPOSE_18.joints):
        if name in fmt.joints:
            out[:, fmt.index(name)] = openpose[:, i]
    for side in ("left", "right"):
        wrist = openpose[:, OPENPOSE_18.index(f"{side}_wrist")]
        hand = [i for i, n in enumerate(fmt.joints) if n.startswith(side) and ("finger" in n or "thumb" in n)]
        for j, i in enumerate(hand):
            out[:, i] = wrist + np.array([3 * math.cos(j), 3 + j % 4, 0], np.float32)
    return out


def _real_windows(paths: list[str], clip_frames: int, count: int):
    """(frames, fps) windows of ``clip_frames`` cut from the real videos, round robin."""
    videos = []
    for path in paths:
        if Path(path).is_file():
            frames = decode_mp4(Path(path).read_bytes())
            videos.append([frames[s : s + clip_frames] for s in range(0, len(frames) - clip_frames + 1, clip_frames)])
    if not videos or not any(videos):
        raise SystemExit(f"no readable video of at least {clip_frames} frames among {paths}")
    windows = [w for group in zip(*videos) for w in group] or [w for v in videos for w in v]
    return [windows[i % len(windows)] for i in range(count)]


def build_bench_shards(folder: Path, paths: list[str], clips: int, clip_frames: int) -> None:
    with ShardWriter(folder, max_count=2) as writer:
        for i, frames in enumerate(_real_windows(paths, clip_frames, clips)):
            t, h, w, _ = frames.shape
            gt = render_video(SynthConfig(seed=1, height=h, width=w, num_frames=t), i)
            meta = ClipMeta(source=f"bench://{i}", video_id=f"bench{i:04d}", start_frame=0, num_frames=t, fps=15.0,
                            width=w, height=h, keypoint_format="goliath_308", object_labels=list(gt.object_labels))
            writer.write(ClipSample(f"bench{i:04d}_000000", encode_mp4(frames, 15.0), meta, gt.character_mask,
                                    gt.object_masks, _as_goliath(gt.keypoints), gt.depth))


def time_one_process(folder: Path, config: SampleConfig, samples: int) -> tuple[float, float, dict[str, float]]:
    """(samples/s by wall clock, samples/s by CPU time, CPU seconds per sample by stage) of one
    single-threaded process. CPU time is what a worker with a core to itself would take."""
    cv2.setNumThreads(1)
    torch.set_num_threads(1)
    raws = [raw for tar in list_shards(folder) for raw in iter_raw_samples(tar)]
    rng = np.random.default_rng(0)
    for raw in raws[:2]:  # warm-up: imports, allocator, codec set-up
        build_sample_raw(raw, config, rng)
    timer = StageTimer(time.process_time)
    wall, cpu = time.perf_counter(), time.process_time()
    for n in range(samples):
        sample = build_sample_raw(raws[n % len(raws)], config, rng, timer)
        with timer("collate"):
            collate([sample])
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return samples / wall, samples / cpu, {k: v / samples for k, v in timer.seconds.items()}


def time_loader(folder: Path, config: SampleConfig, workers: int, batches: int) -> float:
    stream = ShardStream(StreamConfig(str(folder), batch_size=1, batches_per_epoch=batches + 2 * workers,
                                      shuffle_buffer=4, shuffle_initial=1), config, 0, 1)
    loader = StreamLoader(stream, num_workers=workers)
    it = iter(loader)
    for _ in range(2 * workers):  # start-up and warm-up
        next(it)
    start = time.perf_counter()
    for _ in range(batches):
        next(it)
    return batches / (time.perf_counter() - start)


def workers_needed(rate: float, step_time: float, batch: int, wait_fraction: float = 0.02) -> int:
    """Workers whose joint rate covers the GPU's demand; data then waits < ``wait_fraction``."""
    return max(1, math.ceil(batch * (1 - wait_fraction) / (rate * step_time)))


def run(args: argparse.Namespace) -> int:
    config = SampleConfig(height=args.size, width=args.size, num_frames=args.frames, stride=args.stride, mode=args.mode)
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.shards or Path(tmp) / "shards"
        if args.shards is None:
            if not args.real:
                raise SystemExit("give --real VIDEO.mp4 [...] (any videos of people) or --shards FOLDER")
            build_bench_shards(folder, args.real, args.clips, args.clip_frames)
        wall_rate, rate, stages = time_one_process(folder, config, args.samples)
        print(f"one worker process, {args.size}x{args.size} x {config.frames_per_sample} frames, "
              f"{args.samples} samples: "
              f"{rate:.2f} samples/s by CPU time ({1000 / rate:.0f} ms), {wall_rate:.2f} by wall clock")
        for name, sec in sorted(stages.items(), key=lambda kv: -kv[1]):
            print(f"  {name:<22} {1000 * sec:7.1f} ms CPU  {100 * sec * rate:5.1f} %")
        if args.loader_workers:
            total = time_loader(folder, config, args.loader_workers, args.samples)
            print(f"DataLoader, {args.loader_workers} workers: {total:.2f} samples/s end to end")
    need = workers_needed(rate, args.step_time, args.batch)
    print(f"GPU step {args.step_time} s x batch {args.batch}/GPU needs {args.batch / args.step_time:.2f} samples/s: "
          f">= {need} workers per GPU (data wait < 2%), {need + 1} for headroom")
    return 0


if __name__ == "__main__":
    import sys

    parser = argparse.ArgumentParser(prog="bench_dataset")
    register(parser.add_subparsers(dest="command"))
    sys.exit(run(parser.parse_args(["bench-dataset", *sys.argv[1:]])))
