"""What a training run is made of: the AA2 model, the frozen VAE and image encoder, the schedule.

``build_components(config)`` reads local weights (``arch=pretrained``) or builds random ones of
the full SD 1.5 layout (``sd15``, for benchmarks) or of a tiny layout (``tiny``, CPU demo and
tests). The frozen parts never train: they are put in eval mode with gradients off.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from diffusers import AutoencoderKL, DDPMScheduler
from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

from model import (AA2Model, AA2Options, aa2_from_pretrained, build_model, full_config, inflate_to_video,
                   load_image_encoder, load_motion_adapter, load_vae, tiny_config)
from model.temporal import install_packed_temporal_attention

from .config import TrainConfig
from .diffusion import build_scheduler


@dataclass
class Components:
    model: AA2Model
    vae: AutoencoderKL
    image_encoder: CLIPVisionModelWithProjection
    scheduler: DDPMScheduler


def tiny_vae() -> AutoencoderKL:
    """Four levels, so latents are 1/8 of the image as with SD's VAE."""
    return AutoencoderKL(
        in_channels=3, out_channels=3, latent_channels=4, layers_per_block=1, norm_num_groups=8,
        block_out_channels=(8, 16, 16, 16),
        down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
    )


def sd15_vae() -> AutoencoderKL:
    return AutoencoderKL(
        in_channels=3, out_channels=3, latent_channels=4, layers_per_block=2, norm_num_groups=32,
        block_out_channels=(128, 256, 512, 512), sample_size=512,
        down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
    )


def random_image_encoder(projection_dim: int, full: bool) -> CLIPVisionModelWithProjection:
    """CLIP ViT-L/14 (the layout SD image variations use) or a tiny ViT, with random weights."""
    if full:
        config = CLIPVisionConfig(hidden_size=1024, intermediate_size=4096, num_hidden_layers=24,
                                  num_attention_heads=16, image_size=224, patch_size=14,
                                  projection_dim=projection_dim)
    else:
        config = CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                                  image_size=224, patch_size=32, projection_dim=projection_dim)
    return CLIPVisionModelWithProjection(config)


def _random_model(config: TrainConfig) -> tuple[AA2Model, AutoencoderKL, CLIPVisionModelWithProjection]:
    video = config.stage == 2
    if config.model.arch == "tiny":
        arch = tiny_config(video=video, **config.model.options)
    else:
        arch = full_config(video=video, options=AA2Options(**config.model.options))
    model = build_model(arch)
    full = config.model.arch == "sd15"
    return model, sd15_vae() if full else tiny_vae(), random_image_encoder(arch.image_embed_dim, full)


def _pretrained_model(config: TrainConfig) -> AA2Model:
    m = config.model
    if m.init_from:
        model = AA2Model.from_pretrained(m.init_from)
        if config.stage == 2 and not model.is_video:
            model = inflate_to_video(model, load_motion_adapter(m.motion_module))
        return model
    motion = m.motion_module if config.stage == 2 else None
    return aa2_from_pretrained(m.sd_folder, motion, AA2Options(**m.options))


def build_components(config: TrainConfig) -> Components:
    torch.manual_seed(config.seed)  # random architectures are reproducible across ranks and restarts
    if config.model.arch == "pretrained":
        model = _pretrained_model(config)
        vae, encoder = load_vae(config.model.sd_folder), load_image_encoder(config.model.image_encoder)
    else:
        model, vae, encoder = _random_model(config)
    for frozen in (vae, encoder):
        frozen.requires_grad_(False).eval()
    if config.model.gradient_checkpointing:
        model.enable_gradient_checkpointing()
    if model.is_video:
        install_packed_temporal_attention(model.denoising_unet, max_head_dim=config.model.temporal_pack_max_head_dim)
    return Components(model, vae, encoder, build_scheduler(config.diffusion))
