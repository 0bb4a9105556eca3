"""From a data batch to the network's inputs: frozen VAE and image-encoder passes, run in the step.

Latents are computed on the GPU each step rather than stored in shards, because the conditions
are re-randomised every epoch (crops, scale augmentation, shape-agnostic mask). Everything here
runs without gradients. Classifier-free-guidance dropout zeroes the reference latent and the
image embedding per sample; sampling uses the same zeros as its unconditional branch.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from diffusers import AutoencoderKL
from transformers import CLIPVisionModelWithProjection

from dataset.batch import AA2Batch


@dataclass
class ModelInputs:
    """Everything AA2Model.forward takes besides the noisy latents and timesteps."""

    latents: torch.Tensor  # [B, 4, F, h, w] clean target latents
    ref_latents: torch.Tensor  # [B, 4, h, w]
    image_embeds: torch.Tensor  # [B, 1, D]
    env_latents: torch.Tensor | None  # [B, 4, F, h, w]
    mask: torch.Tensor | None  # [B, 1, F, h, w]
    skeleton: torch.Tensor  # [B, 3, F, H, W]
    struct_depth: torch.Tensor | None  # [B, 1, F, H, W]
    object_latents: torch.Tensor | None  # [B, 4, F, h, w]

    def model_kwargs(self) -> dict:
        return {
            "ref_latents": self.ref_latents, "image_embeds": self.image_embeds, "env_latents": self.env_latents,
            "mask": self.mask, "skeleton": self.skeleton, "struct_depth": self.struct_depth,
            "object_latents": self.object_latents,
        }


def _encode_images(vae: AutoencoderKL, images: torch.Tensor, sample: bool, generator=None) -> torch.Tensor:
    dist = vae.encode(images.to(vae.dtype)).latent_dist
    latents = dist.sample(generator) if sample else dist.mode()
    return (latents * vae.config.scaling_factor).float()


def encode_video(vae: AutoencoderKL, video: torch.Tensor, sample: bool = False, generator=None,
                 chunk: int = 16) -> torch.Tensor:
    """[B, 3, F, H, W] in [-1, 1] -> latents [B, 4, F, H/8, W/8], in chunks of frames."""
    b, _, f, h, w = video.shape
    flat = video.permute(0, 2, 1, 3, 4).reshape(b * f, 3, h, w)
    latents = torch.cat([_encode_images(vae, part, sample, generator) for part in flat.split(chunk)])
    return latents.reshape(b, f, *latents.shape[1:]).permute(0, 2, 1, 3, 4)


def encode_objects(vae: AutoencoderKL, objects: torch.Tensor, object_mask: torch.Tensor) -> torch.Tensor:
    """Object frames [B, 3, F, H, W] -> latents, encoding only frames that show an object.

    A frame without object pixels is the constant image 0 (frames * mask), whose latent is the
    same for every such frame: it is encoded once. Clips without interacting objects (most dance
    videos) then cost one VAE image instead of F.
    """
    b, _, f, h, w = objects.shape
    flat = objects.permute(0, 2, 1, 3, 4).reshape(b * f, 3, h, w)
    shown = object_mask.permute(0, 2, 1, 3, 4).reshape(b * f, -1).any(dim=1)
    if shown.all():
        return encode_video(vae, objects)
    blank = _encode_images(vae, torch.zeros_like(flat[:1]), sample=False)
    latents = blank.expand(b * f, *blank.shape[1:]).clone()
    if shown.any():
        latents[shown] = encode_video(vae, flat[shown].unsqueeze(2))[:, :, 0]
    return latents.reshape(b, f, *latents.shape[1:]).permute(0, 2, 1, 3, 4)


def downsample_mask(mask: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """[B, 1, F, H, W] -> [B, 1, F, h, w]; a latent cell is masked if any of its pixels is."""
    b, _, f, h, w = mask.shape
    flat = mask.permute(0, 2, 1, 3, 4).reshape(b * f, 1, h, w)
    small = F.adaptive_max_pool2d(flat.float(), size)
    return small.reshape(b, f, 1, *size).permute(0, 2, 1, 3, 4)


def image_embeddings(encoder: CLIPVisionModelWithProjection, pixels: torch.Tensor) -> torch.Tensor:
    """CLIP-normalised [B, 3, 224, 224] -> projected image embedding as a one-token context [B, 1, D]."""
    return encoder(pixel_values=pixels.to(encoder.dtype)).image_embeds.unsqueeze(1).float()


@torch.no_grad()
def build_inputs(batch: AA2Batch, vae: AutoencoderKL, encoder: CLIPVisionModelWithProjection, options,
                 generator: torch.Generator | None = None) -> ModelInputs:
    """Unpacked batch on the device -> :class:`ModelInputs` honouring the model's switches."""
    latents = encode_video(vae, batch.frames, sample=True, generator=generator)
    size = tuple(latents.shape[-2:])
    return ModelInputs(
        latents=latents,
        ref_latents=encode_video(vae, batch.reference.unsqueeze(2))[:, :, 0],
        image_embeds=image_embeddings(encoder, batch.reference_clip),
        env_latents=encode_video(vae, batch.environment) if options.use_environment else None,
        mask=downsample_mask(batch.mask, size) if options.use_environment else None,
        skeleton=batch.skeleton,
        struct_depth=batch.struct_depth if options.use_depth else None,
        object_latents=encode_objects(vae, batch.objects, batch.object_mask) if options.use_object else None,
    )


def apply_dropout(inputs: ModelInputs, drop_reference: torch.Tensor, drop_embedding: torch.Tensor) -> ModelInputs:
    """Zero the reference latent / the image embedding of the samples whose flag [B] is True."""
    keep_ref = (~drop_reference).to(inputs.ref_latents.dtype)
    keep_emb = (~drop_embedding).to(inputs.image_embeds.dtype)
    inputs.ref_latents = inputs.ref_latents * keep_ref.view(-1, 1, 1, 1)
    inputs.image_embeds = inputs.image_embeds * keep_emb.view(-1, 1, 1)
    return inputs
