"""The Animate Anyone 2 denoising network, built from diffusers and transformers parts.

Public API (what the trainer calls):
- `AA2Model`: forward(noisy_latents, timesteps, ref_latents, image_embeds, env_latents, mask,
  skeleton, struct_depth, object_latents) -> prediction [B, 4, F, h, w]; save_pretrained /
  from_pretrained (strict); enable_gradient_checkpointing().
- `AA2Options`: ablation switches; `tiny_config` / `full_config`: architectures.
- `build_model(arch)`: random-weight AA2 of an `ArchitectureConfig`.
- `aa2_from_pretrained`, `aa2_from_unet`, `inflate_to_video`, `load_vae`, `load_image_encoder`,
  `load_motion_adapter`: initialisation from local pretrained weights.
- `set_trainable(model, stage)` / `parameter_groups(model, stage)`: stage 1 or 2 parameters.
- `fused_attention()`: while a model compiles inside it, attention runs as a custom op over 3-D tensors.
"""

from .aa2 import AA2Model, build_model
from .attention_op import fused_attention
from .checkpoints import CheckpointMismatchError
from .configs import ArchitectureConfig, full_config, tiny_config
from .loading import (aa2_from_pretrained, aa2_from_unet, inflate_to_video, load_image_encoder,
                      load_motion_adapter, load_unet2d, load_vae)
from .options import AA2Options
from .stages import parameter_groups, set_trainable


__all__ = [
    "AA2Model", "AA2Options", "ArchitectureConfig", "CheckpointMismatchError", "aa2_from_pretrained",
    "aa2_from_unet", "build_model", "full_config", "fused_attention", "inflate_to_video", "load_image_encoder",
    "load_motion_adapter", "load_unet2d", "load_vae", "parameter_groups", "set_trainable", "tiny_config",
]
