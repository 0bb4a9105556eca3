"""Validation previews: sample a clip for a held-out batch, write it as mp4 and PNG grid, and log
the grid to the run's tracker.

The grid's rows are target, environment, skeleton and the generated frames, with the reference
image at the head of each row; the mp4 shows target | skeleton | generated side by side.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from dataset.batch import AA2Batch
from dataset.video import encode_mp4
from model.sampling import ddim_from_training, sample_latents

from .conditioning import build_inputs


@torch.no_grad()
def decode_latents(vae, latents: torch.Tensor, chunk: int = 8) -> torch.Tensor:
    """[B, 4, F, h, w] -> [B, 3, F, H, W] in [-1, 1]."""
    b, c, f, h, w = latents.shape
    flat = latents.permute(0, 2, 1, 3, 4).reshape(b * f, c, h, w) / vae.config.scaling_factor
    images = torch.cat([vae.decode(part.to(vae.dtype)).sample.float() for part in flat.split(chunk)])
    return images.reshape(b, f, *images.shape[1:]).permute(0, 2, 1, 3, 4).clamp(-1, 1)


def to_uint8(video: torch.Tensor, signed: bool = True) -> np.ndarray:
    """[3 or 1, F, H, W] -> uint8 [F, H, W, 3]."""
    x = (video.float() + 1) / 2 if signed else video.float()
    x = x.clamp(0, 1).mul(255).round().byte().permute(1, 2, 3, 0).cpu().numpy()
    return np.repeat(x, 3, axis=-1) if x.shape[-1] == 1 else x


@torch.no_grad()
def generate(model, components, batch: AA2Batch, steps: int, guidance: float, seed: int = 0) -> torch.Tensor:
    """Generated frames [B, 3, F, H, W] in [-1, 1] for an unpacked batch on the model's device."""
    inputs = build_inputs(batch, components.vae, components.image_encoder, model.spec)
    conditions = inputs.model_kwargs()
    generator = torch.Generator(device=inputs.latents.device).manual_seed(seed)
    sampler = ddim_from_training(components.scheduler)
    latents = sample_latents(model, sampler, conditions, tuple(inputs.latents.shape), steps, guidance,
                             generator=generator)
    return decode_latents(components.vae, latents)


def write_preview(batch: AA2Batch, generated: torch.Tensor, out_dir: str | Path, name: str,
                  fps: float = 8.0, max_columns: int = 8) -> dict[str, Path | np.ndarray]:
    """First sample of the batch: ``{name}.mp4`` and ``{name}.png`` in ``out_dir``; returns their
    paths (``mp4``, ``png``) and the PNG's pixels (``grid``, uint8 HWC) for the tracker."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = [to_uint8(batch.frames[0]), to_uint8(batch.environment[0]), to_uint8(batch.skeleton[0], signed=False),
            to_uint8(generated[0])]
    reference = to_uint8(batch.reference[0].unsqueeze(1))[0]
    columns = np.linspace(0, rows[0].shape[0] - 1, min(max_columns, rows[0].shape[0])).round().astype(int)
    grid = np.concatenate([np.concatenate([reference, *row[columns]], axis=1) for row in rows], axis=0)
    zoom = max(1, 256 // reference.shape[0])  # small training crops are hard to see otherwise
    grid = grid.repeat(zoom, axis=0).repeat(zoom, axis=1)
    png = out_dir / f"{name}.png"
    Image.fromarray(grid).save(png)
    mp4 = out_dir / f"{name}.mp4"
    mp4.write_bytes(encode_mp4(np.concatenate([rows[0], rows[2], rows[3]], axis=2), fps=fps))
    return {"png": png, "mp4": mp4, "grid": grid}


def log_preview(accelerator, tracker: str, grid: np.ndarray, step: int, tag: str = "validation/preview") -> None:
    """The preview's grid (uint8 HWC) as an image of ``step`` in the run's tracker (``tensorboard`` or ``wandb``)."""
    extra = {"dataformats": "NHWC"} if tracker == "tensorboard" else {}
    accelerator.get_tracker(tracker, unwrap=False).log_images({tag: grid[None]}, step=step, **extra)
