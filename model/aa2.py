"""AA2Model: ReferenceNet + DenoisingNet + pose modulation + object guider, one diffusers model.

Composition, no patched forward:
- the DenoisingNet is a stock `UNet2DConditionModel` (image mode, stage 1) or a stock
  `UNetMotionModel` (video mode, stage 2, AnimateDiff temporal layers);
- its conv_in is owned here (widened to noisy + environment + mask channels, the new channels
  zero) and the UNet's own conv_in is an `nn.Identity`, so the pose features are added to the
  conv_in output in plain code before the UNet runs, with no hook and no side channel;
- reference tokens and object features reach the UNet's attention layers through attention
  processors and `cross_attention_kwargs` (see reference.py, blending.py).
With every new part at its initial value and no reference image, the output is that of the
pretrained UNet: exactly, or up to rounding where the motion modules' attention packs its short
sequences (on a GPU, temporal.py) or cross-attention over a single frozen context token is
computed from that token's value (reference.py).
"""

from __future__ import annotations

from pathlib import Path

import torch
from diffusers import MotionAdapter, UNet2DConditionModel, UNetMotionModel
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from torch import nn

from .blending import ObjectGuider, SpatialBlend, blend_key, decoder_layer_scale
from .checkpoints import DIFFUSERS_WEIGHTS, raise_on_loading_info, require_model_folder
from .configs import ArchitectureConfig
from .options import AA2Options
from .pose import PoseModulation, batch_to_frames, frames_to_batch
from .reference import (ReferenceBank, fused_layers, install_reference_readers, install_reference_writers,
                        is_decoder_layer)
from .temporal import install_packed_temporal_attention


def public_config(config: dict) -> dict:
    """A diffusers config without its bookkeeping keys (_class_name, _diffusers_version, ...)."""
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in dict(config).items() if not k.startswith("_")}


def build_denoising_unet(unet: dict, motion: dict | None) -> nn.Module:
    """A randomly initialised stock UNet of the given layout, inflated when `motion` is given."""
    if motion is None:
        return UNet2DConditionModel.from_config(unet)
    # from_unet2d maps a 2D config + adapter config onto UNetMotionModel; building its inputs on
    # the meta device skips initialising weights that load_weights=False would not copy anyway.
    with torch.device("meta"):
        unet2d = UNet2DConditionModel.from_config(unet)
        adapter = MotionAdapter.from_config(motion)
    return UNetMotionModel.from_unet2d(unet2d, adapter, load_weights=False)


class AA2Model(ModelMixin, ConfigMixin):
    """The Animate Anyone 2 denoiser. Config: 2D UNet layout, motion adapter layout, AA2Options."""

    _supports_gradient_checkpointing = True
    # Regional compilation (diffusers' ``compile_repeated_blocks``): the blocks that repeat through
    # both UNets. Instances that see the same input shapes share one compiled graph, except blocks
    # whose attention reads or writes reference tokens: those are specialised on their layer's name.
    _repeated_blocks = ["Transformer2DModel", "AnimateDiffTransformer3D", "ResnetBlock2D"]

    @register_to_config
    def __init__(self, unet: dict, motion: dict | None = None, options: dict | None = None) -> None:
        super().__init__()
        self.spec = AA2Options(**(options or {}))
        widths = list(unet["block_out_channels"])
        self.reference_unet = UNet2DConditionModel.from_config(unet)
        self.denoising_unet = build_denoising_unet(unet, motion)
        self.conv_in = nn.Conv2d(self.spec.in_channels, widths[0], 3, padding=1)
        self.denoising_unet.conv_in = nn.Identity()
        self.pose_modulation = PoseModulation(widths[0], self.spec.pose_channels,
                                              self.spec.pose_attention_heads, self.spec.use_depth)
        self.object_guider = None
        self.object_blend = nn.ModuleDict()
        if self.spec.use_object:
            self.object_guider = ObjectGuider(4, self.spec.object_channels, tuple(widths))
            self._build_blends(widths)
        self._install_processors()

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, **kwargs) -> "AA2Model":
        """diffusers loading from a local folder, but a missing or unexpected key raises."""
        folder = Path(pretrained_model_name_or_path) / (kwargs.get("subfolder") or "")
        require_model_folder(folder, DIFFUSERS_WEIGHTS)
        kwargs.pop("output_loading_info", None)
        model, info = super().from_pretrained(pretrained_model_name_or_path, output_loading_info=True, **kwargs)
        raise_on_loading_info(folder, info)
        return model

    @property
    def is_video(self) -> bool:
        return isinstance(self.denoising_unet, UNetMotionModel)

    def _build_blends(self, widths: list[int]) -> None:
        for layer in fused_layers(self.denoising_unet, "mid_up"):
            scale = decoder_layer_scale(layer, len(widths))
            self.object_blend[blend_key(layer)] = SpatialBlend(widths[scale], scale)

    def _install_processors(self) -> None:
        scope = self.spec.reference_fusion
        self.reference_layers = fused_layers(self.reference_unet, scope)
        install_reference_writers(self.reference_unet, self.reference_layers)
        blends = {layer: self.object_blend[blend_key(layer)]
                  for layer in fused_layers(self.denoising_unet, scope)
                  if is_decoder_layer(layer) and blend_key(layer) in self.object_blend}
        install_reference_readers(self.denoising_unet, fused_layers(self.denoising_unet, scope), blends)
        if self.is_video:
            install_packed_temporal_attention(self.denoising_unet)

    def forward(
        self,
        noisy_latents: torch.Tensor,
        timesteps: torch.Tensor,
        ref_latents: torch.Tensor | None,
        image_embeds: torch.Tensor,
        env_latents: torch.Tensor | None = None,
        mask: torch.Tensor | None = None,
        skeleton: torch.Tensor | None = None,
        struct_depth: torch.Tensor | None = None,
        object_latents: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Noise (or v) prediction [B, 4, F, h, w].

        noisy_latents/env_latents/object_latents [B, 4, F, h, w], mask [B, 1, F, h, w], timesteps
        [B], ref_latents [B, 4, h, w] (None: no reference fusion), image_embeds [B, S, D] (CLIP
        image embedding), skeleton [B, 3, F, 8h, 8w] and struct_depth [B, 1, F, 8h, 8w] (None:
        no pose features). F = 1 is image mode.
        """
        batch, frames = noisy_latents.shape[0], noisy_latents.shape[2]
        bank = self.run_reference(ref_latents, timesteps, image_embeds)
        sample = self.conv_in(frames_to_batch(self._denoiser_input(noisy_latents, env_latents, mask)))
        if skeleton is not None:
            sample = sample + self.pose_modulation(skeleton, struct_depth)
        objects = self._object_features(object_latents)
        kwargs = {"reference_bank": bank, "object_features": objects}
        return self._run_denoiser(sample, batch, frames, timesteps, image_embeds, kwargs)

    def run_reference(self, ref_latents: torch.Tensor | None, timesteps: torch.Tensor,
                      image_embeds: torch.Tensor) -> ReferenceBank | None:
        """One ReferenceNet pass at t = 0; its output is unused, its attn1 inputs fill the bank."""
        if ref_latents is None:
            return None
        bank = ReferenceBank(self.reference_layers)
        self.reference_unet(ref_latents, torch.zeros_like(timesteps), encoder_hidden_states=image_embeds,
                            cross_attention_kwargs={"reference_bank": bank}, return_dict=False)
        return bank

    def _denoiser_input(self, noisy: torch.Tensor, env: torch.Tensor | None,
                        mask: torch.Tensor | None) -> torch.Tensor:
        if not self.spec.use_environment:
            if env is not None or mask is not None:
                raise ValueError("environment input is switched off; do not pass env_latents or mask")
            return noisy
        if env is None or mask is None:
            raise ValueError("environment input is on: env_latents and mask are required")
        return torch.cat([noisy, env.to(noisy.dtype), mask.to(noisy.dtype)], dim=1)

    def _object_features(self, object_latents: torch.Tensor | None) -> tuple[torch.Tensor, ...] | None:
        if object_latents is None:
            return None
        if self.object_guider is None:
            raise ValueError("the object guider is switched off; do not pass object_latents")
        return self.object_guider(frames_to_batch(object_latents))

    def _run_denoiser(self, sample: torch.Tensor, batch: int, frames: int, timesteps: torch.Tensor,
                      image_embeds: torch.Tensor, kwargs: dict) -> torch.Tensor:
        context = image_embeds.repeat_interleave(frames, dim=0)
        if self.is_video:
            return self.denoising_unet(batch_to_frames(sample, batch), timesteps, encoder_hidden_states=context,
                                       cross_attention_kwargs=kwargs, return_dict=False)[0]
        out = self.denoising_unet(sample, timesteps.repeat_interleave(frames), encoder_hidden_states=context,
                                  cross_attention_kwargs=kwargs, return_dict=False)[0]
        return batch_to_frames(out, batch)


def build_model(arch: ArchitectureConfig) -> AA2Model:
    """A randomly initialised AA2Model (new parts at their zero-start values)."""
    return AA2Model(unet=arch.unet, motion=arch.motion, options=arch.options.to_dict())
