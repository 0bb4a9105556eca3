"""``aa2 bench-annotators``: throughput of the production annotator models on one GPU.

Full-size architectures with random weights (same FLOPs and memory as the released ones; no
weights exist on benchmark machines), bf16 autocast, the backends' own code paths:

- SAM2.1 video propagation (hiera-B+ and -L), the stock predictor against ours, one or several
  clips per GPU (:mod:`tools.bench_sam2`);
- Sapiens pose and depth (0.3B, 1B) at 1024x768 end to end versus the model alone and the
  backbone alone, per variant of the upsampling head (:mod:`tools.bench_sapiens`).

Results are written to ``--out`` after every model, so a run cut short keeps what it measured.

``--tiny`` runs the same code on toy configurations (a CPU check of the script).
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import numpy as np

from tools.bench_sam2 import bench_sam2
from tools.bench_sapiens import VARIANTS, bench_task
from tools.bench_vlm import bench_vlm

log = logging.getLogger("bench_annotators")


def register(subparsers) -> None:
    p = subparsers.add_parser("bench-annotators", help="GPU throughput of SAM2.1 and Sapiens (random weights)",
                              description=__doc__.split("\n\n")[0])
    p.add_argument("--sam2", default="sam2.1_b+,sam2.1_l", help="SAM2.1 variants, comma-separated ('' for none)")
    p.add_argument("--sapiens", default="sapiens_0.3b,sapiens_1b", help="Sapiens sizes, comma-separated ('' for none)")
    p.add_argument("--frames", type=int, default=150, help="frames per SAM2 clip (10 s at 15 fps)")
    p.add_argument("--feature-batch", type=int, default=8, help="SAM2 frames per image-encoder pass")
    p.add_argument("--sam2-procs", default="", help="also time this many SAM2 processes sharing the GPU, comma-separated")
    p.add_argument("--sam2-tracks", type=int, default=2, help="SAM2 tracks (a person box, then object boxes)")
    p.add_argument("--sam2-keyframes", default="0", help="frames the SAM2 boxes are given on, comma-separated")
    p.add_argument("--sam2-compile", action="store_true", help="also time sam2's vos_optimized compilation")
    p.add_argument("--no-stock", action="store_true", help="skip the stock SAM2 predictor's rate")
    p.add_argument("--frame-size", default="512x912", help="video frame HxW")
    p.add_argument("--batch", type=int, default=16, help="Sapiens crops per forward")
    p.add_argument("--iters", type=int, default=4, help="timed Sapiens batches")
    p.add_argument("--head-variants", default="eager,channels_last,compiled",
                   help=f"Sapiens head variants to time, comma-separated, of {sorted(VARIANTS)}")
    p.add_argument("--profile", action="store_true", help="print the top kernels of each Sapiens model")
    p.add_argument("--vlm", default="qwen2.5_vl_7b", help="localise VLMs, comma-separated ('' for none)")
    p.add_argument("--vlm-batch", type=int, default=8, help="VLM keyframes per generate() call")
    p.add_argument("--vlm-tokens", type=int, default=64, help="VLM answer length in tokens (forced: random weights never stop)")
    p.add_argument("--tiny", action="store_true", help="toy configurations (CPU check)")
    p.add_argument("--out", type=Path, help="also write the results as JSON here")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import torch

    device = torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")
    fh, fw = (int(v) for v in args.frame_size.split("x"))
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, size=(max(args.frames, args.batch * 2), fh, fw, 3), dtype=np.uint8)
    card = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    results = {"card": card, "torch": torch.__version__, "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
               "random_weights": True, "sam2": [], "sapiens": []}

    def save() -> None:
        if args.out:
            args.out.write_text(json.dumps(results, indent=1))

    for name in filter(None, args.sam2.split(",")):
        procs = [int(n) for n in filter(None, args.sam2_procs.split(","))]
        results["sam2"].append(bench_sam2(name, frames[: args.frames], device, args.tiny, args.feature_batch, procs,
                                          args.sam2_compile, not args.no_stock, args.sam2_tracks,
                                          tuple(int(f) for f in args.sam2_keyframes.split(","))))
        log.info("%s", results["sam2"][-1])
        save()
    for size in filter(None, args.sapiens.split(",")):
        for task in ("pose", "depth"):
            results["sapiens"].append(bench_task(size, task, frames[: args.batch * 2], args.batch, args.iters, device,
                                                 args.tiny, args.head_variants.split(","), args.profile))
            log.info("%s", results["sapiens"][-1])
            save()
    results["vlm"] = []
    for name in filter(None, args.vlm.split(",")):
        results["vlm"].append(bench_vlm(device, args.tiny, args.vlm_batch, args.vlm_tokens, (fh, fw), name=name))
        log.info("%s", results["vlm"][-1])
        save()
    print(json.dumps(results, indent=1))
    save()
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
