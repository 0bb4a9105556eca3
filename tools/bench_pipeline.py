"""Clips per GPU-hour of the whole preprocessing job through Ray on one GPU, production models.

    python -m tools.bench_pipeline --videos 12 --seconds 20 --sapiens sapiens_1b --actors 3

1. Renders a synthetic crawl (``--seconds`` per video at 15 fps, ``--size`` HxW) on all cores.
2. Writes full-size random weights in the released on-disk formats: a SAM2.1 checkpoint
   (``{"model": state_dict}``) and Sapiens pose and depth ``.pth`` files (``{"state_dict": ...}``),
   plus the weights YAML naming them, and runs ``run_preprocess`` on Ray with localise=oracle
   (the crawl's exact boxes: a VLM with random weights answers no usable boxes; its keyframes/s
   is measured apart by ``aa2 bench-annotators --vlm``) on ``--keyframes`` frames per clip, as
   many as the VLM backends' ``num_keyframes`` (SAM2's memory attention attends to every
   prompted frame, so more prompted frames make every tracked frame dearer), segment=sam2, pose and depth=sapiens,
   ``--actors`` annotate actors sharing the GPU. With ``--vlm`` the localiser is
   :class:`VlmCostOracleBoxes`: the production VLM localiser (Qwen2.5-VL-7B, random bf16 weights
   saved as a model folder) asked about every keyframe at its full cost, with answers held to
   ``--vlm-tokens`` tokens as ``bench_vlm`` holds them, after which the crawl's exact boxes
   prompt SAM2. ``--localise-actors N`` runs localisation as a stage of its own (N actors, each
   with ``--localise-gpu`` of the GPU, ``--vlm-batch`` keyframes a call) instead of inside every
   annotate actor.
   With ``--engine local`` the same stages run one after another in this process instead: each
   model then has the GPU to itself, and its seconds per clip on these very clips (the first
   clip, which compiles, left out) give the bound that the pipeline's clips per GPU-hour are
   compared with (``bound_clips_per_gpu_hour``; the same ``--videos`` render the same crawl).
3. Samples the GPU's utilisation with ``nvidia-smi`` every 0.5 s; the steady-state figure is the
   mean over the middle 60% of the run (the first and last fifth, start-up and drain, left out).

Prints and writes (``--out``) one JSON object: wall time, clips annotated and written, clips per
GPU-hour over the whole run and in steady state (between the first and the last annotated clip,
without start-up), per-stage worker seconds, GPU busy fraction. While it runs, the job's progress
lines and the GPU's mean utilisation of every 30 s are logged, so a run stopped early still shows
its rate. Random weights: SAM2's masks are noise,
so the qualify stage may reject clips; every annotated clip cost the full GPU work and counts.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import tempfile
import time
from pathlib import Path

from preprocess.annotators.oracle import OracleLocalise
from preprocess.annotators.vlm import VlmLocaliser
from tools.gpu_power import NvidiaSmi

SAM2_CONFIG = "configs/sam2.1/sam2.1_hiera_b+.yaml"
log = logging.getLogger("bench_pipeline")


class VlmCostOracleBoxes(VlmLocaliser):
    """The VLM localiser at its full cost, answering with the crawl's exact boxes.

    Every keyframe goes through the production path (processor, batched ``generate``, parsing),
    with each answer held to ``answer_tokens`` tokens (random weights would otherwise stop at a
    random length); the parsed answers are then dropped for the oracle's boxes, since random
    weights answer no usable box and SAM2 needs prompts to do its work.
    """

    name = "bench_vlm_oracle"

    def __init__(self, keyframe_every: int = 8, answer_tokens: int = 64, **config):
        super().__init__(**{**config, "max_new_tokens": answer_tokens})
        self.answer_tokens = answer_tokens
        self.oracle = OracleLocalise(keyframe_every=keyframe_every)
        self.keyframes_asked = 0

    def setup(self) -> None:
        from preprocess.models.vlm import GroundingVLM

        c = self.config
        self.model = self._on_device(f"vlm {c.family}", lambda device, dtype: GroundingVLM(
            c.model, c.family, device, dtype, c.max_new_tokens, c.max_pixels, min_new_tokens=self.answer_tokens))

    def infer(self, images: list) -> list:
        self.keyframes_asked += len(images)
        return super().infer(images)

    def __call__(self, clips):
        super().__call__(clips)
        return self.oracle(clips)


def write_vlm(folder: Path, tiny: bool) -> Path:
    """A Qwen2.5-VL-7B model folder (``save_pretrained``) with random bf16 weights and the offline processor."""
    import torch

    from tools.bench_vlm import build_model, build_processor

    device = torch.device("cuda" if torch.cuda.is_available() and not tiny else "cpu")
    processor = build_processor()
    model = build_model("qwen2.5_vl_7b", tiny, processor.tokenizer, device)
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    del model
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return folder


def write_weights(folder: Path, sapiens: str, tiny: bool) -> Path:
    """Random full-size weights in the released formats, and the weights YAML naming them."""
    import torch
    import yaml
    from sam2.build_sam import build_sam2

    from tools.bench_sam2 import SAM2_TINY
    from tools.bench_sapiens import build

    device = torch.device("cuda" if torch.cuda.is_available() and not tiny else "cpu")
    folder.mkdir(parents=True, exist_ok=True)
    sam2 = build_sam2(SAM2_CONFIG, None, device=str(device), hydra_overrides_extra=SAM2_TINY if tiny else [])
    torch.save({"model": {k: v.cpu() for k, v in sam2.state_dict().items()}}, folder / "sam2.1_hiera_base_plus.pt")
    for task in ("pose", "depth"):
        model, _ = build(sapiens, task, device, tiny)  # bf16: half the bytes to write and read
        torch.save({"state_dict": {k: v.cpu() for k, v in model.state_dict().items()}}, folder / f"{sapiens}_{task}.pth")
    weights = {"sam2": {"checkpoint": "sam2.1_hiera_base_plus.pt", "config": SAM2_CONFIG},
               "sapiens_pose": {"checkpoint": f"{sapiens}_pose.pth", "format": "goliath_308"},
               "sapiens_depth": {"checkpoint": f"{sapiens}_depth.pth"}}
    path = folder / "weights.yaml"
    path.write_text(yaml.safe_dump(weights))
    return path


class GpuSampler(NvidiaSmi):
    """``nvidia-smi`` utilisation samples every ``period_ms``, from construction to :meth:`stop`;
    the mean of every ``report_every_s`` is logged as it comes."""

    def __init__(self, period_ms: int = 500, report_every_s: float = 30.0):
        super().__init__("utilization.gpu", period_ms)
        self.report_every_s, self.reported = report_every_s, time.time()
        self.start()

    def line_read(self, line: str) -> None:
        if not line.strip().isdigit():
            return
        now = self.times[-1]
        if now - self.reported >= self.report_every_s:
            log.info("GPU busy %.0f%% over the last %.0f s", 100 * self.mean(self.reported, now), now - self.reported)
            self.reported = now

    def mean(self, start: float, end: float) -> float | None:
        inside = [float(u) for t, u in zip(self.times, self.lines) if u.strip().isdigit() and start <= t <= end]
        return round(sum(inside) / len(inside) / 100, 3) if inside else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--videos", type=int, default=12)
    parser.add_argument("--seconds", type=float, default=20.0, help="video length; clips are 10 s (150 frames at 15 fps)")
    parser.add_argument("--size", default="512x912", help="video HxW")
    parser.add_argument("--sapiens", default="sapiens_1b", help="sapiens_0.3b or sapiens_1b")
    parser.add_argument("--actors", type=int, default=3, help="annotate actors sharing the GPU")
    parser.add_argument("--keyframes", type=int, default=3,
                        help="prompted keyframes per clip (the VLM backends' num_keyframes)")
    parser.add_argument("--vlm", action="store_true",
                        help="run the VLM localiser (random Qwen2.5-VL-7B) on every keyframe, then the oracle's boxes")
    parser.add_argument("--vlm-tokens", type=int, default=64, help="with --vlm: tokens per answer (as bench_vlm)")
    parser.add_argument("--vlm-batch", type=int, default=8, help="with --vlm: keyframes per generate() call")
    parser.add_argument("--localise-actors", type=int, default=0,
                        help="localise as a stage of its own with this many actors (0: inside each annotate actor)")
    parser.add_argument("--localise-gpu", type=float, default=0.1,
                        help="GPU share of each localise actor (with --localise-actors); the annotate actors share the rest")
    parser.add_argument("--sapiens-batch", type=int, default=8)
    parser.add_argument("--no-head-compile", action="store_true",
                        help="Sapiens heads eager (no per-actor compile at start-up: for short runs)")
    parser.add_argument("--sam2-threshold", type=float, default=0.0,
                        help="mask-logit threshold; random weights need a low one to leave masks for Sapiens")
    parser.add_argument("--clip-actors", type=int, default=6, help="clip-cutting actors (CPU)")
    parser.add_argument("--engine", choices=("ray", "local"), default="ray",
                        help="local: the same stages one after another in this process, which gives each "
                             "model's steady seconds per clip on these clips alone on the GPU (the bound)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="preprocess config override applied last (e.g. annotate.num_cpus=2); repeatable")
    parser.add_argument("--work", type=Path, help="working folder (default: a temporary one)")
    parser.add_argument("--tiny", action="store_true", help="toy models and sizes on the CPU (checks the script)")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")

    from dataset.synthetic import SynthConfig, write_crawl
    from preprocess.config import PreprocessConfig, apply_overrides
    from preprocess.pipeline import run_preprocess
    from tools.bench_sam2 import SAM2_TINY
    from tools.preprocess import with_weights

    work = args.work or Path(tempfile.mkdtemp(prefix="bench_pipeline_"))
    h, w = (int(v) for v in args.size.split("x"))
    fps, clip_frames = 15.0, 150 if not args.tiny else 8
    start = time.perf_counter()
    crawl = write_crawl(work / "crawl", SynthConfig(seed=3, num_videos=args.videos, height=h, width=w,
                                                    num_frames=int(args.seconds * fps), fps=fps), workers=os.cpu_count() or 1)
    render_s = time.perf_counter() - start
    weights = write_weights(work / "weights", args.sapiens, args.tiny)
    gpu = 0 if args.tiny else 1
    localise_gpu = gpu * args.localise_gpu if args.localise_actors else 0.0
    localise = "tools.bench_pipeline:VlmCostOracleBoxes" if args.vlm else "oracle"
    overrides = [
        f"annotate.localise={localise}", "annotate.segment=sam2", "annotate.pose=sapiens", "annotate.depth=sapiens",
        f"annotate.num_gpus={(gpu - localise_gpu * args.localise_actors) / args.actors}",
        f"annotate.concurrency={args.actors}", "annotate.batch_size=1",
        f"annotate.localise_concurrency={args.localise_actors}", f"annotate.localise_num_gpus={localise_gpu}",
        f"annotate.localise_batch_size={max(1, args.vlm_batch // args.keyframes)}",
        f"clips.clip_frames={clip_frames}", f"clips.min_frames={clip_frames}", "clips.short_side=null",
        f"clips.concurrency={args.clip_actors}", *args.set,
    ]
    config = with_weights(apply_overrides(PreprocessConfig(), overrides), str(weights))
    for role in ("pose", "depth"):
        config.annotate.backend_config[role].update(batch_size=args.sapiens_batch, compile_head=not args.no_head_compile)
    config.annotate.backend_config["segment"]["threshold"] = args.sam2_threshold
    config.annotate.backend_config["localise"] = {"keyframe_every": -(-clip_frames // args.keyframes)}
    if args.vlm:
        config.annotate.backend_config["localise"].update(
            model=str(write_vlm(work / "weights" / "qwen2_5_vl", args.tiny)), family="qwen2_5_vl",
            num_keyframes=args.keyframes, batch_size=args.vlm_batch, answer_tokens=args.vlm_tokens,
            device="cpu" if args.tiny else "auto")
    if args.tiny:
        config.annotate.backend_config["segment"]["overrides"] = SAM2_TINY
        for role in ("segment", "pose", "depth"):
            config.annotate.backend_config[role]["device"] = "cpu"
        for role in ("pose", "depth"):
            config.annotate.backend_config[role].update(input_hw=(64, 48), num_heads=2)
    config.ray.num_gpus = gpu  # a local cluster the job starts (and stops); a running one is joined
    sampler = None if args.tiny else GpuSampler()
    try:
        begin = time.time()
        summary = run_preprocess(str(crawl), work / "out", config, engine=args.engine)
        end = time.time()
    finally:
        if sampler:
            sampler.stop()
    annotated = summary["stages"]["annotate"]["items"]
    wall = summary["wall_s"]
    report = {
        "date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()), "engine": args.engine, "sapiens": args.sapiens,
        "actors": args.actors if args.engine == "ray" else 1,
        "videos": args.videos, "clip": f"{clip_frames} frames of {h}x{w} at {fps:g} fps", "keyframes": args.keyframes,
        "overrides": args.set, "vlm": f"qwen2.5_vl_7b, {args.vlm_tokens} tokens an answer" if args.vlm else None,
        "localise_actors": args.localise_actors,
        "render_s": round(render_s, 1),
        "wall_s": wall, "clips_annotated": annotated, "clips_written": summary["clips"],
        "clips_rejected_by_reason": summary["clips_rejected_by_reason"],
        "clips_per_gpu_hour": round(annotated / wall * 3600, 1),
        "clips_per_gpu_hour_steady": summary["annotated_clips_per_hour_steady"],
        "stage_worker_s": {k: v["worker_seconds"] for k, v in summary["stages"].items()},
        "annotate_s_by_part": summary["annotate_seconds_by_part"],  # decode, each model, encode: what limits it
        "annotate_s_by_part_after_first_clip": summary["annotate_seconds_by_part_after_first_clip"],
    }
    models = {k: v for k, v in summary["annotate_seconds_by_part_after_first_clip"].items()
              if k not in ("decode", "encode")}
    if args.engine == "local" and annotated > 1 and sum(models.values()):
        # one process, one model at a time: the GPU seconds each clip needs, without overlap or contention
        per_clip = {k: round(v / (annotated - 1), 3) for k, v in models.items()}
        report["model_s_per_clip"] = per_clip
        report["bound_clips_per_gpu_hour"] = round(3600 / sum(per_clip.values()), 1)
    if sampler:
        report["gpu_busy_whole_run"] = sampler.mean(begin, end)
        # steady state: leave out the first and last fifth of the run (actor start-up, compile, drain)
        report["gpu_busy_steady"] = sampler.mean(begin + 0.2 * (end - begin), end - 0.2 * (end - begin))
        if summary["annotated_at_s"]:  # the driver's clock from the first to the last annotated clip
            first, last = summary["annotated_at_s"]
            report["gpu_busy_between_first_and_last_clip"] = sampler.mean(begin + first, begin + last)
    print(json.dumps(report, indent=1))
    if args.out:
        args.out.write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
