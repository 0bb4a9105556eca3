"""The frozen VAE encoder's share of a training step, per way of running it.

A stage-2 step at 512x512x16 encodes 34-49 images (16 target frames, 16 environment frames,
the reference, the frames that show objects or one blank frame). This times
``train.conditioning.encode_video`` on such a stack of random 512x512 images with the SD 1.5 VAE (random weights, bf16) in these
ways: eager with cuDNN's heuristic algorithm choice, eager with ``cudnn.benchmark``, compiled
(``torch.compile`` of the encoder), compiled in channels-last memory, compiled for static shapes
as the trainer does (``model.compile_vae``), the same after
:func:`train.channels_last.rewrite_vae_encoder` (``model.rewrite_vae``), that with its kernels
tuned by Inductor's coordinate descent (``model.vae_tuning``), and compiled for static
shapes with Inductor's ``max-autotune-no-cudagraphs`` mode (convolutions and matrix products timed
against Triton templates). Counted FLOPs give the achieved TFLOP/s of each.
"""

from __future__ import annotations

import time

from tools.timing import sync

WAYS = ("eager", "eager_benchmark", "compiled", "compiled_channels_last", "compiled_static", "compiled_rewritten",
        "compiled_tuned", "max_autotune")



def _compiled(encoder, way: str):
    import torch

    from train.conditioning import compile_encoder

    if way in ("compiled_static", "compiled_rewritten", "compiled_tuned"):  # as the trainer compiles it
        return compile_encoder(encoder, "all" if way == "compiled_tuned" else "none", chunk=0)
    if way == "max_autotune":
        return torch.compile(encoder, dynamic=False, mode="max-autotune-no-cudagraphs")
    return torch.compile(encoder)


def bench_vae(images: int = 48, size: int = 512, repeat: int = 5, tiny: bool = False, ways=WAYS,
              chunk: int = 16) -> dict:
    import torch

    from train.channels_last import rewrite_vae_encoder
    from train.components import sd15_vae, tiny_vae
    from train.conditioning import encode_video
    from train.metrics import compiled_graphs, count_flops

    unknown = set(ways) - set(WAYS)
    if unknown:
        raise ValueError(f"unknown VAE ways {sorted(unknown)}; choose from {WAYS}")
    device = torch.device("cuda" if torch.cuda.is_available() and not tiny else "cpu")
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    video = torch.rand(1, 3, images, size, size, device=device, dtype=dtype) * 2 - 1
    row = {"images": images, "size": size, "chunk": chunk}
    with torch.no_grad():
        # FLOPs counted once, on the eager encoder: a compiled one is never run under the counter
        vae = (tiny_vae() if tiny else sd15_vae()).to(device, dtype).eval()
        row["tflop_per_image"] = round(count_flops(lambda: encode_video(vae, video, chunk=chunk))[1] / images / 1e12, 4)
        del vae
        for way in ways:
            torch.backends.cudnn.benchmark = way != "eager"
            vae = (tiny_vae() if tiny else sd15_vae()).to(device, dtype).eval()
            if way.endswith("channels_last"):
                vae.to(memory_format=torch.channels_last)
            if way in ("compiled_rewritten", "compiled_tuned"):
                rewrite_vae_encoder(vae.encoder)
            if way != "eager" and not way.startswith("eager_"):
                vae.encoder = _compiled(vae.encoder, way)
            start = time.perf_counter()
            encode_video(vae, video, chunk=chunk)  # warm-up: compiles, autotunes
            sync(device)
            row[f"{way}_first_call_s"] = round(time.perf_counter() - start, 1)
            graphs = compiled_graphs()
            start = time.perf_counter()
            for _ in range(repeat):
                encode_video(vae, video, chunk=chunk)
            sync(device)
            seconds = (time.perf_counter() - start) / repeat
            row[f"{way}_s"] = round(seconds, 4)
            row[f"{way}_tflops"] = round(row["tflop_per_image"] * images / seconds, 1)
            # a timed call that compiled again would time compilation, not the encoder
            row[f"{way}_recompiled_while_timed"] = compiled_graphs() != graphs
            del vae
    torch.backends.cudnn.benchmark = False
    return row
