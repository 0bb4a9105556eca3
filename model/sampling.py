"""Sampling with a trained AA2 model: DDIM with classifier-free guidance on the reference.

The unconditional branch is the one trained by reference dropout: zero reference latent and
zero image embedding, with the same pose, environment and object conditions. Both branches run
as one batch. ``guidance_rescale`` (Lin et al. 2024) counters over-exposure with zero-SNR models.
"""

from __future__ import annotations

import torch
from diffusers import DDIMScheduler, SchedulerMixin


def ddim_from_training(scheduler: SchedulerMixin) -> DDIMScheduler:
    """A DDIM sampler with the training schedule (betas, prediction type, zero-SNR spacing)."""
    config = dict(scheduler.config)
    trailing = bool(config.get("rescale_betas_zero_snr", False))
    return DDIMScheduler.from_config(config, timestep_spacing="trailing" if trailing else "leading",
                                     set_alpha_to_one=False, clip_sample=False)


def _rescale(guided: torch.Tensor, cond: torch.Tensor, factor: float) -> torch.Tensor:
    dims = list(range(1, guided.ndim))
    rescaled = guided * (cond.std(dim=dims, keepdim=True) / guided.std(dim=dims, keepdim=True))
    return factor * rescaled + (1 - factor) * guided


def _doubled(conditions: dict) -> dict:
    """[uncond; cond] batches: reference latent and embedding zeroed in the first half."""
    out = {}
    for name, value in conditions.items():
        if value is None:
            out[name] = None
        elif name in ("ref_latents", "image_embeds"):
            out[name] = torch.cat([torch.zeros_like(value), value])
        else:
            out[name] = torch.cat([value, value])
    return out


@torch.no_grad()
def sample_latents(model, scheduler: DDIMScheduler, conditions: dict, shape: tuple[int, ...], steps: int = 20,
                   guidance: float = 3.5, guidance_rescale: float = 0.7,
                   generator: torch.Generator | None = None) -> torch.Tensor:
    """Denoise from Gaussian noise to latents ``shape`` = [B, 4, F, h, w] under ``conditions``.

    ``conditions`` holds AA2Model.forward's keyword arguments (ref_latents, image_embeds,
    env_latents, mask, skeleton, struct_depth, object_latents).
    """
    device = conditions["image_embeds"].device
    latents = torch.randn(shape, generator=generator, device=device, dtype=torch.float32)
    latents = latents * scheduler.init_noise_sigma
    scheduler.set_timesteps(steps, device=device)
    guided = guidance != 1.0
    kwargs = _doubled(conditions) if guided else conditions
    for t in scheduler.timesteps:
        x = torch.cat([latents, latents]) if guided else latents
        x = scheduler.scale_model_input(x, t)
        ts = t.expand(x.shape[0]).to(device)
        pred = model(x, ts, **kwargs).float()
        if guided:
            uncond, cond = pred.chunk(2)
            pred = uncond + guidance * (cond - uncond)
            if guidance_rescale > 0:
                pred = _rescale(pred, cond, guidance_rescale)
        latents = scheduler.step(pred, t, latents, generator=generator).prev_sample
    return latents
