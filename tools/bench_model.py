"""``aa2 bench-model``: speed, memory and FLOPs of one AA2 training step (random weights).

Full size = SD 1.5 UNets (ReferenceNet + DenoisingNet) with AnimateDiff v2 motion modules and
every AA2 part, at 512x512 (64x64 latents). Each case runs forward + backward + AdamW step under
bf16 autocast (fp32 master weights, PyTorch SDPA attention); FLOPs are those counted by
`torch.utils.flop_counter.FlopCounterMode` over one step (matmuls, convolutions, attention).
The plain SD 1.5 UNet2DConditionModel (77x768 text context) runs in the same process as the
baseline that the numbers are compared against. Inputs are random latents: VAE and CLIP
encoding, which a training step adds, are not part of the measured step. `--tiny` runs the same
code on the CPU in seconds.
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BenchCase:
    """One measured configuration."""

    model: str
    """"baseline" (plain SD 1.5 UNet, everything trained) or "aa2"."""
    stage: int
    """AA2 stage: 1 = image mode, all stage-1 parts trained; 2 = video mode, temporal layers trained."""
    batch: int
    frames: int
    checkpointing: bool
    compiled: bool = False
    """Time `torch.compile(model)` (FLOPs are still counted on the eager model)."""

    @property
    def name(self) -> str:
        what = "sd15_unet" if self.model == "baseline" else f"aa2_stage{self.stage}"
        suffix = ("_ckpt" if self.checkpointing else "") + ("_compiled" if self.compiled else "")
        return f"{what}_b{self.batch}_f{self.frames}{suffix}"


def build_cases(args: argparse.Namespace) -> list[BenchCase]:
    ckpt = {"on": (True,), "off": (False,), "both": (False, True)}[args.checkpointing]
    cases = [BenchCase("baseline", 0, args.baseline_batch, 1, False)]
    cases += [BenchCase("aa2", 2, b, f, c) for f in args.frames for b in args.batches for c in ckpt]
    cases += [BenchCase("aa2", 1, b, 1, c) for b in args.stage1_batches for c in ckpt]
    cases += [BenchCase("aa2", 2, b, args.frames[0], False, True) for b in args.compile_batches]
    return cases


def make_inputs(case: BenchCase, latent: int, embed_dim: int, device) -> dict:
    import torch

    b, f, size = case.batch, case.frames, latent
    return {
        "noisy_latents": torch.randn(b, 4, f, size, size, device=device),
        "timesteps": torch.randint(0, 1000, (b,), device=device),
        "ref_latents": torch.randn(b, 4, size, size, device=device),
        "image_embeds": torch.randn(b, 1, embed_dim, device=device),
        "env_latents": torch.randn(b, 4, f, size, size, device=device),
        "mask": (torch.rand(b, 1, f, size, size, device=device) > 0.5).float(),
        "skeleton": torch.rand(b, 3, f, 8 * size, 8 * size, device=device),
        "struct_depth": torch.rand(b, 1, f, 8 * size, 8 * size, device=device),
        "object_latents": torch.randn(b, 4, f, size, size, device=device),
    }


def build_network(case: BenchCase, tiny: bool, latent: int, device):
    """(model, trained parameters, positional inputs, keyword inputs), built on `device`."""
    import torch
    from diffusers import UNet2DConditionModel

    from model import build_model, full_config, set_trainable, tiny_config
    from model.configs import sd15_unet_config, tiny_unet_config

    with torch.device(device):
        if case.model == "baseline":
            net = UNet2DConditionModel.from_config(tiny_unet_config() if tiny else sd15_unet_config())
            context = torch.randn(case.batch, 77, net.config.cross_attention_dim)
            noisy = torch.randn(case.batch, 4, latent, latent)
            return net, list(net.parameters()), (noisy, torch.randint(0, 1000, (case.batch,)), context), {
                "return_dict": False}
        arch = (tiny_config if tiny else full_config)(video=case.stage == 2)
        net = build_model(arch)
        params = [p for group in set_trainable(net, case.stage).values() for p in group]
        return net, params, (), make_inputs(case, latent, arch.image_embed_dim, device)


def build_step(case: BenchCase, tiny: bool, latent: int, device):
    """(eager step, timed step, trained parameter count, model); a step runs fwd+bwd+AdamW."""
    import torch

    net, params, call_args, call_kwargs = build_network(case, tiny, latent, device)
    if case.checkpointing:
        net.enable_gradient_checkpointing()
    net.train()
    optimiser = torch.optim.AdamW(params, lr=1e-5, fused=torch.device(device).type == "cuda")
    compiled = torch.compile(net) if case.compiled else net

    def make_step(module):
        def step() -> None:
            with torch.autocast(torch.device(device).type, dtype=torch.bfloat16):
                out = module(*call_args, **call_kwargs)
            out = out[0] if isinstance(out, tuple) else out
            torch.nn.functional.mse_loss(out.float(), torch.zeros_like(out, dtype=torch.float32)).backward()
            optimiser.step()
            optimiser.zero_grad(set_to_none=True)
        return step

    return make_step(net), make_step(compiled), sum(p.numel() for p in params), net


def time_steps(step, device, warmup: int, steps: int) -> tuple[float, float | None]:
    """(seconds per step, peak GiB allocated during the timed steps; None off CUDA)."""
    import torch

    cuda = torch.device(device).type == "cuda"
    for _ in range(warmup):
        step()
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    if cuda:
        torch.cuda.synchronize()
    seconds = (time.perf_counter() - start) / steps
    peak = torch.cuda.max_memory_allocated() / 2**30 if cuda else None
    return seconds, peak


def run_case(case: BenchCase, args: argparse.Namespace) -> dict:
    import torch

    from train.metrics import count_model_flops

    row = {"case": case.name, **asdict(case)}
    try:
        eager, step, trained, net = build_step(case, args.tiny, args.latent, args.device)
        row["trained_params_M"] = round(trained / 1e6, 1)
        row["total_params_M"] = round(sum(p.numel() for p in net.parameters()) / 1e6, 1)
        flops = count_model_flops(net, eager)[1]
        seconds, peak = time_steps(step, args.device, args.warmup, args.steps)
        samples = case.batch * case.frames
        row.update(step_s=round(seconds, 4), samples_per_s=round(samples / seconds, 2),
                   peak_gib=peak and round(peak, 2), flop_per_step=flops,
                   tflop_per_step=round(flops / 1e12, 3), achieved_tflops=round(flops / seconds / 1e12, 1))
    except torch.OutOfMemoryError:
        row["error"] = "out of memory"
    except Exception as error:  # one broken case must not lose the other measurements
        log.exception("case %s failed", case.name)
        row["error"] = repr(error)
    finally:
        eager = step = net = None
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    log.info("%s", json.dumps(row))
    return row


def environment(device: str) -> dict:
    import torch

    info = {"torch": torch.__version__, "date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime())}
    if torch.device(device).type == "cuda":
        info["device"] = torch.cuda.get_device_name()
    return info


def run(args: argparse.Namespace) -> int:
    report = {"environment": environment(args.device), "cases": [run_case(c, args) for c in build_cases(args)]}
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text)
    return 0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--tiny", action="store_true", help="tiny architecture (CPU check of the benchmark)")
    parser.add_argument("--latent", type=int, default=64, help="latent side (64 = 512x512 images)")
    parser.add_argument("--frames", type=int, nargs="+", default=[16], help="stage-2 clip lengths")
    parser.add_argument("--batches", type=int, nargs="*", default=[1, 2], help="stage-2 (video) batch sizes")
    parser.add_argument("--stage1-batches", type=int, nargs="*", default=[4], help="stage-1 (image) batch sizes")
    parser.add_argument("--baseline-batch", type=int, default=16)
    parser.add_argument("--compile-batches", type=int, nargs="*", default=[],
                        help="stage-2 batch sizes to time again under torch.compile (first --frames value)")
    parser.add_argument("--checkpointing", choices=("on", "off", "both"), default="both")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--out", help="write the JSON report here too")


def register(subparsers) -> None:
    parser = subparsers.add_parser("bench-model", help="benchmark one AA2 training step (random weights)")
    add_arguments(parser)
    parser.set_defaults(func=run)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    cli = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(cli)
    raise SystemExit(run(cli.parse_args()))
