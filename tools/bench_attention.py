"""What the network's spatial self-attention costs per head size, through each SDPA backend.

SD 1.5's transformer blocks have 8 heads at every level, so heads of 40, 80 and 160 channels; at
the 64x64 latent level a frame's 4096 tokens attend to themselves (encoder) or to themselves and
the reference's 4096 (decoder, 8192 keys). This times ``F.scaled_dot_product_attention`` at such
shapes in bf16, forward and forward with backward, for every head size asked and every backend
asked, and gives the achieved TFLOP/s of the FLOPs that ``torch.utils.flop_counter`` counts
(those of the head size itself, as the training step's MFU counts them). A backend that cannot
take a shape gives a row with its reason instead of stopping the run; a kernel that faults (on an
H100 with torch 2.11 the flash kernel at head size 160 and 16384 x 8 sequences of 16 tokens made
an illegal memory access, which ends the process) leaves the rows before it in ``--out``.

``--pack N`` times the motion modules' way instead (:mod:`model.temporal`): N sequences of
``--queries`` tokens attend as one row under a block-diagonal mask (keys = queries); the counted
FLOPs are then those of the whole row, masked products included.

``aa2 bench-attention`` (GPU; ``--device cpu`` with small shapes checks the plumbing).
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from tools.timing import timed

log = logging.getLogger(__name__)

BACKENDS = ("cudnn", "flash", "efficient", "math")


def _backend(name: str):
    from torch.nn.attention import SDPBackend

    return {"cudnn": SDPBackend.CUDNN_ATTENTION, "flash": SDPBackend.FLASH_ATTENTION,
            "efficient": SDPBackend.EFFICIENT_ATTENTION, "math": SDPBackend.MATH}[name]


def bench_case(sequences: int, heads: int, queries: int, keys: int, head_size: int, backend: str, device,
               dtype, warmup: int = 3, repeat: int = 10, pack: int = 1) -> dict:
    """One shape through one backend: ms and TFLOP/s of the forward and of the backward; with
    ``pack`` > 1, ``pack`` sequences a row under a block-diagonal mask."""
    import torch
    import torch.nn.functional as F
    from torch.nn.attention import sdpa_kernel

    from train.metrics import count_flops

    if pack > 1 and (keys != queries or sequences % pack):
        raise ValueError(f"packing {pack} sequences a row needs keys = queries and a number of sequences it divides, "
                         f"got {queries} queries, {keys} keys, {sequences} sequences")
    row = {"sequences": sequences, "heads": heads, "queries": queries, "keys": keys, "head_size": head_size,
           "backend": backend, "pack": pack}
    rows, tokens = sequences // pack, queries * pack
    q, k, v = (torch.randn(rows, heads, length, head_size, device=device, dtype=dtype, requires_grad=True)
               for length in (tokens, keys * pack, keys * pack))
    mask = None
    if pack > 1:
        sequence = torch.arange(tokens, device=device) // queries
        mask = sequence[:, None] == sequence[None, :]

    def forward():
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask)

    with sdpa_kernel(_backend(backend)):
        try:
            out, forward_flop = count_flops(forward)
        except RuntimeError as error:  # the backend does not take this shape, dtype or device
            row["error"] = str(error).splitlines()[0][:300]
            return row
        grad = torch.randn_like(out)

        def both():
            torch.autograd.grad(forward(), (q, k, v), grad)

        _, both_flop = count_flops(both)
        for _ in range(warmup):
            both()
        forward_s = timed(forward, device, repeat)
        both_s = timed(both, device, repeat)
    # the backward's time is the difference of two timings: at tiny shapes noise can make it 0
    backward_s = max(both_s - forward_s, 0.0)
    row.update(forward_ms=round(forward_s * 1e3, 3), forward_backward_ms=round(both_s * 1e3, 3),
               backward_ms=round(backward_s * 1e3, 3), forward_flop=forward_flop,
               backward_flop=both_flop - forward_flop)
    row["forward_tflops"] = float(f"{forward_flop / forward_s / 1e12:.4g}")
    row["backward_tflops"] = float(f"{row['backward_flop'] / backward_s / 1e12:.4g}") if backward_s else None
    return row


def run(args: argparse.Namespace) -> int:
    import torch

    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    unknown = set(args.backends) - set(BACKENDS)
    if unknown:
        raise SystemExit(f"unknown backends {sorted(unknown)}; choose from {BACKENDS}")
    rows = []
    report = {"device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
              "torch": torch.__version__, "dtype": str(dtype).removeprefix("torch."), "rows": rows}
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    for keys in args.keys:
        for head_size in args.head_sizes:
            for backend in args.backends:
                row = bench_case(args.sequences, args.heads, args.queries, keys, head_size, backend, device, dtype,
                                 args.warmup, args.repeat, args.pack)
                rows.append(row)
                if "error" in row:
                    log.info("keys %d, head %d, %s: unavailable (%s)", keys, head_size, backend, row["error"])
                else:
                    log.info("keys %d, head %d, %s: forward %.2f ms (%.0f TFLOP/s), backward %.2f ms (%s TFLOP/s)",
                             keys, head_size, backend, row["forward_ms"], row["forward_tflops"], row["backward_ms"],
                             row["backward_tflops"])
                if args.out:  # after every row: a kernel fault that ends the process keeps the rows before it
                    Path(args.out).write_text(json.dumps(report, indent=1))
                if device.type == "cuda":
                    torch.cuda.empty_cache()
    print(json.dumps(report))
    return 0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sequences", type=int, default=64, help="frames attended at once (batch x frames)")
    parser.add_argument("--heads", type=int, default=8)
    parser.add_argument("--queries", type=int, default=4096, help="tokens a frame (64x64 latents: 4096)")
    parser.add_argument("--keys", type=int, nargs="+", default=[4096, 8192],
                        help="keys a query sees (with the reference's tokens: twice the queries)")
    parser.add_argument("--head-sizes", type=int, nargs="+", default=[40, 48, 64, 80, 128])
    parser.add_argument("--backends", nargs="+", default=["cudnn", "flash"], help=f"from {BACKENDS}")
    parser.add_argument("--pack", type=int, default=1,
                        help="sequences a row under a block-diagonal mask, as the motion modules attend (keys = queries)")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--device", default=None, help="default: cuda if available")
    parser.add_argument("--out", default=None, help="also write the report (JSON) here")


def register(subparsers) -> None:
    parser = subparsers.add_parser("bench-attention", help="time SDPA's backends per head size (GPU benchmark)")
    add_arguments(parser)
    parser.set_defaults(func=run)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    parser = argparse.ArgumentParser(description=__doc__)
    add_arguments(parser)
    raise SystemExit(run(parser.parse_args()))
