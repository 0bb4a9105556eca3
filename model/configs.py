"""Ready-made architecture configs: Stable Diffusion 1.5 + AnimateDiff v2 sizes, and tiny ones.

The full-size configs reproduce the published layouts (SD 1.5 `unet/config.json`, the
`mm_sd_v15_v2` motion module) so that random-weight models have the real FLOPs and memory. The
tiny configs keep every structural feature (cross-attention down/up blocks, a block without
attention, a mid block, motion modules) at a size that runs in seconds on a CPU.
"""

from __future__ import annotations

from dataclasses import dataclass

from .options import AA2Options


@dataclass(frozen=True)
class ArchitectureConfig:
    """What AA2Model needs to be built: the 2D UNet layout, the motion adapter layout, the switches."""

    unet: dict
    motion: dict | None
    options: AA2Options

    @property
    def image_embed_dim(self) -> int:
        """Width of the CLIP image embedding that cross-attention reads."""
        return int(self.unet["cross_attention_dim"])


def sd15_unet_config() -> dict:
    """The SD 1.5 UNet2DConditionModel config (also the layout of the image-variations UNet)."""
    return {
        "sample_size": 64,
        "in_channels": 4,
        "out_channels": 4,
        "down_block_types": ["CrossAttnDownBlock2D"] * 3 + ["DownBlock2D"],
        "up_block_types": ["UpBlock2D"] + ["CrossAttnUpBlock2D"] * 3,
        "block_out_channels": [320, 640, 1280, 1280],
        "layers_per_block": 2,
        "cross_attention_dim": 768,
        "attention_head_dim": 8,
        "norm_num_groups": 32,
        "norm_eps": 1e-5,
        "act_fn": "silu",
        "flip_sin_to_cos": True,
        "freq_shift": 0,
    }


def animatediff_v2_motion_config() -> dict:
    """The MotionAdapter config of AnimateDiff's mm_sd_v15_v2 (diffusers' MotionAdapter defaults)."""
    return {
        "block_out_channels": [320, 640, 1280, 1280],
        "motion_layers_per_block": 2,
        "motion_mid_block_layers_per_block": 1,
        "motion_num_attention_heads": 8,
        "motion_norm_num_groups": 32,
        "motion_max_seq_length": 32,
        "use_motion_mid_block": True,
    }


def full_config(video: bool = True, options: AA2Options | None = None) -> ArchitectureConfig:
    """SD 1.5-sized AA2 (random weights unless loaded): for benchmarks and real training."""
    return ArchitectureConfig(
        unet=sd15_unet_config(),
        motion=animatediff_v2_motion_config() if video else None,
        options=options or AA2Options(),
    )


def tiny_unet_config() -> dict:
    """Two-level UNet: attention at full latent resolution, none at the lower level, a mid block."""
    return {
        "sample_size": 16,
        "in_channels": 4,
        "out_channels": 4,
        "down_block_types": ["CrossAttnDownBlock2D", "DownBlock2D"],
        "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D"],
        "block_out_channels": [32, 64],
        "layers_per_block": 1,
        "cross_attention_dim": 32,
        "attention_head_dim": 8,
        "norm_num_groups": 8,
    }


def tiny_motion_config() -> dict:
    return {
        "block_out_channels": [32, 64],
        "motion_layers_per_block": 1,
        "motion_num_attention_heads": 2,
        "motion_norm_num_groups": 8,
        "motion_max_seq_length": 32,
        "use_motion_mid_block": True,
    }


def tiny_options(**overrides) -> AA2Options:
    fields = {"pose_channels": (4, 8, 8, 16), "pose_attention_heads": 2, "object_channels": (8, 16)}
    return AA2Options(**{**fields, **overrides})


def tiny_config(video: bool = True, **option_overrides) -> ArchitectureConfig:
    """A CPU-sized AA2 for tests and the tiny training recipe (latents of 8x8 or 16x16 work)."""
    return ArchitectureConfig(
        unet=tiny_unet_config(),
        motion=tiny_motion_config() if video else None,
        options=tiny_options(**option_overrides),
    )
