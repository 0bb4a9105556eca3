"""The diffusion objective: noise schedule, noised inputs, targets and min-SNR-weighted loss.

Built on diffusers' ``DDPMScheduler`` (training) and ``compute_snr``. Zero-terminal-SNR with
trailing timesteps (Lin et al. 2024) needs v-prediction: at the last timestep the input is pure
noise, so predicting that noise (epsilon) carries no information; the config refuses the pair.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from diffusers import DDPMScheduler
from diffusers.training_utils import compute_snr


@dataclass
class DiffusionConfig:
    prediction_type: str = "v_prediction"  # "epsilon" or "v_prediction"
    zero_terminal_snr: bool = True  # rescale betas to zero terminal SNR; trailing timestep spacing
    num_train_timesteps: int = 1000
    beta_schedule: str = "scaled_linear"
    noise_offset: float = 0.05  # std of a per-channel offset added to the noise (brightness range)
    min_snr_gamma: float | None = 5.0  # None: plain MSE
    reference_dropout: float = 0.05  # drop the reference image (classifier-free guidance)
    image_embed_dropout: float = 0.05  # drop the image-encoder embedding

    def __post_init__(self) -> None:
        if self.prediction_type not in ("epsilon", "v_prediction"):
            raise ValueError(f"diffusion.prediction_type must be epsilon or v_prediction, got {self.prediction_type!r}")
        if self.zero_terminal_snr and self.prediction_type == "epsilon":
            raise ValueError(
                "diffusion.zero_terminal_snr=true needs diffusion.prediction_type=v_prediction "
                "(epsilon is undefined at the zero-SNR timestep); change one of them"
            )
        for name in ("noise_offset", "reference_dropout", "image_embed_dropout"):
            value = getattr(self, name)
            if not 0.0 <= value < 1.0:
                raise ValueError(f"diffusion.{name} must be in [0, 1), got {value}")
        if self.min_snr_gamma is not None and self.min_snr_gamma <= 0:
            raise ValueError(f"diffusion.min_snr_gamma must be positive or null, got {self.min_snr_gamma}")


def build_scheduler(cfg: DiffusionConfig) -> DDPMScheduler:
    return DDPMScheduler(
        num_train_timesteps=cfg.num_train_timesteps,
        beta_schedule=cfg.beta_schedule,
        beta_start=0.00085,
        beta_end=0.012,
        prediction_type=cfg.prediction_type,
        rescale_betas_zero_snr=cfg.zero_terminal_snr,
        timestep_spacing="trailing" if cfg.zero_terminal_snr else "leading",
        clip_sample=False,
    )


def sample_noise(latents: torch.Tensor, offset: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Gaussian noise plus a per-sample, per-channel constant offset (shared across frames and pixels)."""
    noise = torch.randn(latents.shape, generator=generator, device=latents.device, dtype=latents.dtype)
    if offset > 0:
        shape = latents.shape[:2] + (1,) * (latents.ndim - 2)
        noise = noise + offset * torch.randn(shape, generator=generator, device=latents.device, dtype=latents.dtype)
    return noise


def sample_timesteps(scheduler: DDPMScheduler, batch: int, device, generator: torch.Generator | None = None):
    n = scheduler.config.num_train_timesteps
    return torch.randint(0, n, (batch,), generator=generator, device=device).long()


def training_target(scheduler: DDPMScheduler, latents, noise, timesteps) -> torch.Tensor:
    if scheduler.config.prediction_type == "v_prediction":
        return scheduler.get_velocity(latents, noise, timesteps)
    return noise


def diffusion_loss(scheduler: DDPMScheduler, pred, target, timesteps, min_snr_gamma: float | None) -> torch.Tensor:
    """MSE per sample, weighted by min(SNR, gamma) / SNR (epsilon) or / (SNR + 1) (v)."""
    per_sample = F.mse_loss(pred.float(), target.float(), reduction="none").flatten(1).mean(1)
    if min_snr_gamma is None:
        return per_sample.mean()
    snr = compute_snr(scheduler, timesteps)
    weight = torch.clamp(snr, max=min_snr_gamma)
    weight = weight / (snr + 1) if scheduler.config.prediction_type == "v_prediction" else weight / snr
    return (per_sample * weight).mean()


def drop_mask(batch: int, p: float, device, generator: torch.Generator | None = None) -> torch.Tensor:
    """Bool [batch]: True where a condition is dropped for classifier-free guidance."""
    if p <= 0:
        return torch.zeros(batch, dtype=torch.bool, device=device)
    return torch.rand(batch, generator=generator, device=device) < p
