"""The frozen VAE encoder's share of a training step, per way of running it.

A stage-2 step at 512x512x16 encodes about 33-49 images (16 target frames, 16 environment frames,
the reference and the frames that show objects). This times ``train.conditioning.encode_video``
on such a stack of random 512x512 images with the SD 1.5 VAE (random weights, bf16) in four
ways: eager with cuDNN's heuristic algorithm choice, eager with ``cudnn.benchmark``, compiled
(``torch.compile`` of the encoder) and compiled in channels-last memory. Counted FLOPs give the
achieved TFLOP/s of each.
"""

from __future__ import annotations

import time

from tools.timing import sync

WAYS = ("eager", "eager_benchmark", "compiled", "compiled_channels_last")



def bench_vae(images: int = 48, size: int = 512, repeat: int = 5, tiny: bool = False, ways=WAYS) -> dict:
    import torch

    from train.components import sd15_vae, tiny_vae
    from train.conditioning import encode_video
    from train.metrics import count_flops

    device = torch.device("cuda" if torch.cuda.is_available() and not tiny else "cpu")
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    video = torch.rand(1, 3, images, size, size, device=device, dtype=dtype) * 2 - 1
    row = {"images": images, "size": size}
    with torch.no_grad():
        for way in ways:
            torch.backends.cudnn.benchmark = way != "eager"
            vae = (tiny_vae() if tiny else sd15_vae()).to(device, dtype).eval()
            if way.endswith("channels_last"):
                vae.to(memory_format=torch.channels_last)
            if way.startswith("compiled"):
                vae.encoder = torch.compile(vae.encoder)
            start = time.perf_counter()
            encode_video(vae, video)  # warm-up: compiles, autotunes
            sync(device)
            row[f"{way}_first_call_s"] = round(time.perf_counter() - start, 1)
            if "tflop_per_image" not in row:
                row["tflop_per_image"] = round(count_flops(lambda: encode_video(vae, video))[1] / images / 1e12, 4)
            sync(device)
            start = time.perf_counter()
            for _ in range(repeat):
                encode_video(vae, video)
            sync(device)
            seconds = (time.perf_counter() - start) / repeat
            row[f"{way}_s"] = round(seconds, 4)
            row[f"{way}_tflops"] = round(row["tflop_per_image"] * images / seconds, 1)
            del vae
    torch.backends.cudnn.benchmark = False
    return row
