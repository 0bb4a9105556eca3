"""``aa2 bench-annotators``: throughput of the production annotator models on one GPU.

Full-size architectures with random weights (same FLOPs and memory as the released ones; no
weights exist on benchmark machines), bf16 autocast, the backends' own code paths:

- SAM2.1 video propagation (hiera-B+ and -L): frames/s of ``track_clip`` over a clip, person and
  object box prompts on frame 0, frames handed over in memory;
- Sapiens pose and depth (0.3B, 1B) at 1024x768: frames/s end to end (uint8 frames on the host
  -> keypoints or masked depth on the host: crop, normalise, model, decode) versus the model alone
  and the backbone alone on a ready device batch.

``--tiny`` runs the same code on toy configurations (a CPU check of the script).
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import numpy as np

log = logging.getLogger("bench_annotators")

SAM2_CONFIGS = {"sam2.1_b+": "configs/sam2.1/sam2.1_hiera_b+.yaml", "sam2.1_l": "configs/sam2.1/sam2.1_hiera_l.yaml"}
SAM2_TINY = [
    "++model.image_encoder.trunk.embed_dim=8", "++model.image_encoder.trunk.num_heads=1",
    "++model.image_encoder.trunk.stages=[1,2,1,1]", "++model.image_encoder.trunk.global_att_blocks=[2]",
    "++model.image_encoder.trunk.window_pos_embed_bkg_spatial_size=[2,2]", "++model.image_encoder.neck.d_model=32",
    "++model.image_encoder.neck.backbone_channel_list=[64,32,16,8]", "++model.image_encoder.neck.position_encoding.num_pos_feats=32",
    "++model.memory_attention.d_model=32", "++model.memory_attention.num_layers=1", "++model.memory_attention.layer.d_model=32",
    "++model.memory_attention.layer.dim_feedforward=32", "++model.memory_attention.layer.self_attention.embedding_dim=32",
    "++model.memory_attention.layer.self_attention.feat_sizes=[8,8]", "++model.memory_attention.layer.cross_attention.embedding_dim=32",
    "++model.memory_attention.layer.cross_attention.feat_sizes=[8,8]", "++model.memory_attention.layer.cross_attention.kv_in_dim=16",
    "++model.memory_encoder.out_dim=16", "++model.memory_encoder.position_encoding.num_pos_feats=16",
    "++model.memory_encoder.fuser.layer.dim=32", "++model.memory_encoder.in_dim=32",
    "++model.memory_encoder.mask_downsampler.embed_dim=32", "++model.image_size=128",
]  # fmt: skip


def register(subparsers) -> None:
    p = subparsers.add_parser("bench-annotators", help="GPU throughput of SAM2.1 and Sapiens (random weights)",
                              description=__doc__.split("\n\n")[0])
    p.add_argument("--sam2", default="sam2.1_b+,sam2.1_l", help="SAM2.1 variants, comma-separated ('' for none)")
    p.add_argument("--sapiens", default="sapiens_0.3b,sapiens_1b", help="Sapiens sizes, comma-separated ('' for none)")
    p.add_argument("--frames", type=int, default=64, help="frames per SAM2 clip")
    p.add_argument("--frame-size", default="512x912", help="video frame HxW")
    p.add_argument("--batch", type=int, default=16, help="Sapiens crops per forward")
    p.add_argument("--iters", type=int, default=4, help="timed Sapiens batches")
    p.add_argument("--tiny", action="store_true", help="toy configurations (CPU check)")
    p.add_argument("--out", type=Path, help="also write the results as JSON here")
    p.set_defaults(func=run)


def _sync(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed(fn, device, repeat: int) -> float:
    _sync(device)
    start = time.perf_counter()
    for _ in range(repeat):
        fn()
    _sync(device)
    return (time.perf_counter() - start) / repeat


def _peak_gib(device) -> float:
    import torch

    return torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else 0.0


def _reset_peak(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def bench_sam2(name: str, frames: np.ndarray, device, tiny: bool) -> dict:
    from sam2.build_sam import build_sam2_video_predictor

    from preprocess.models.sam2_track import track_clip

    overrides = (SAM2_TINY if tiny else []) + ["++model._target_=preprocess.models.sam2_frames.FramesVideoPredictor"]
    _reset_peak(device)
    predictor = build_sam2_video_predictor(SAM2_CONFIGS[name], None, device=device, hydra_overrides_extra=overrides)
    predictor.fill_hole_area = 0
    h, w = frames.shape[1:3]
    prompts = {0: {0: (w * 0.3, h * 0.1, w * 0.6, h * 0.95)}, 1: {0: (w * 0.55, h * 0.5, w * 0.7, h * 0.7)}}
    # warm-up past the memory bank's fill-up (7 frames): shapes settle, kernels and allocator are ready
    track_clip(predictor, frames[:16], prompts, chunk=64)
    seconds = _timed(lambda: track_clip(predictor, frames, prompts, chunk=64), device, 1)
    del predictor
    return {"model": name, "what": "video propagation, 2 tracks", "frames": len(frames),
            "frames_per_s": round(len(frames) / seconds, 2), "peak_gib": round(_peak_gib(device), 2)}


def _sapiens_models(size: str, device, tiny: bool):
    import torch

    from preprocess.models.sapiens_vit import ARCHS, SapiensArch, build_sapiens

    arch, hw = (SapiensArch(32, 2, 2, 64), (64, 48)) if tiny else (ARCHS[size], (1024, 768))
    heads = {"head_deconv": (16, 16), "head_conv": (16, 16)} if tiny else {}
    with torch.device(device):  # random init straight on the GPU: a 1B model inits in seconds there
        pose = build_sapiens("pose", arch, hw, 308, **heads).to(torch.bfloat16).eval()
        depth = build_sapiens("depth", arch, hw, **({"head_deconv": (8,) * 4, "head_conv": (8,)} if tiny else {}))
        depth = depth.to(torch.bfloat16).eval()
    return pose, depth, hw


def bench_sapiens(size: str, frames: np.ndarray, batch: int, iters: int, device, tiny: bool) -> list[dict]:
    import torch

    from preprocess.models.sapiens_infer import TopdownRunner

    _reset_peak(device)
    pose, depth, hw = _sapiens_models(size, device, tiny)
    n, h, w = frames.shape[:3]
    boxes = np.tile(np.array([[w * 0.3, h * 0.1, w * 0.6, h * 0.95]], np.float32), (n, 1))
    masks = np.zeros((n, h, w), bool)
    masks[:, int(h * 0.1) : int(h * 0.95), int(w * 0.3) : int(w * 0.6)] = True
    x = torch.randn(batch, 3, *hw, device=device)
    rows = []
    for task, model in (("pose", pose), ("depth", depth)):
        runner = TopdownRunner(model, hw, device, torch.bfloat16, batch_size=batch)
        e2e = (lambda: runner.keypoints(frames, boxes)) if task == "pose" else (lambda: runner.depth(frames, boxes, masks, (h // 2, w // 2)))
        parts = {"end_to_end": (e2e, n), "model_only": (lambda: runner.forward(x), batch),
                 "backbone_only": (lambda: runner.forward_backbone(x), batch)}
        row = {"model": f"{size} {task}", "input": f"{hw[0]}x{hw[1]}", "batch": batch}
        for part, (fn, count) in parts.items():
            fn()  # warm-up
            row[f"{part}_fps"] = round(count / _timed(fn, device, iters), 2)
        row["peak_gib"] = round(_peak_gib(device), 2)
        rows.append(row)
    return rows


def run(args: argparse.Namespace) -> int:
    import torch

    device = torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")
    fh, fw = (int(v) for v in args.frame_size.split("x"))
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, size=(max(args.frames, args.batch * 2), fh, fw, 3), dtype=np.uint8)
    card = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    results = {"card": card, "torch": torch.__version__, "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
               "random_weights": True, "sam2": [], "sapiens": []}
    for name in filter(None, args.sam2.split(",")):
        results["sam2"].append(bench_sam2(name, frames[: args.frames], device, args.tiny))
        log.info("%s", results["sam2"][-1])
    for size in filter(None, args.sapiens.split(",")):
        results["sapiens"] += bench_sapiens(size, frames[: args.batch * 2], args.batch, args.iters, device, args.tiny)
        log.info("%s", results["sapiens"][-2:])
    print(json.dumps(results, indent=1))
    if args.out:
        args.out.write_text(json.dumps(results, indent=1))
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m tools.bench_annotators [options]``, for machines without the full CLI."""
    import sys

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    parser = argparse.ArgumentParser(prog="python -m tools.bench_annotators")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["bench-annotators", *(sys.argv[1:] if argv is None else argv)])
    return args.func(args)


if __name__ == "__main__":
    raise SystemExit(main())
