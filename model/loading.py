"""Build AA2 from pretrained parts on local disk (diffusers/transformers layouts, AnimateDiff files).

Expected inputs: a Stable Diffusion 1.5 folder in diffusers layout (`unet/`, `vae/`; the UNet of
an image-variations model has the same layout), a CLIP image-encoder folder
(`CLIPVisionModelWithProjection`), and an AnimateDiff motion module either as a diffusers
`MotionAdapter` folder or as the original checkpoint (e.g. `mm_sd_v15_v2.ckpt`), whose keys are
renamed with diffusers' own AnimateDiff conversion. Every load is strict (checkpoints.py).
"""

from __future__ import annotations

import re
from pathlib import Path

import torch
from diffusers import AutoencoderKL, MotionAdapter, UNet2DConditionModel
from diffusers.loaders.single_file_utils import convert_animatediff_checkpoint_to_diffusers
from transformers import CLIPVisionModelWithProjection

from .aa2 import AA2Model, public_config
from .checkpoints import (DIFFUSERS_WEIGHTS, TRANSFORMERS_WEIGHTS, raise_on_loading_info, raise_on_mismatch,
                          require_file, require_model_folder)
from .options import AA2Options

# diffusers recomputes the sinusoidal position tables; the original files store them as pos_encoder.pe.
POSITION_TABLE_SUFFIX = ("pos_embed.pe",)


def load_unet2d(sd_folder: str | Path) -> UNet2DConditionModel:
    folder = require_model_folder(Path(sd_folder) / "unet", DIFFUSERS_WEIGHTS)
    unet, info = UNet2DConditionModel.from_pretrained(folder, output_loading_info=True)
    raise_on_loading_info(folder, info)
    return unet


def load_vae(sd_folder: str | Path) -> AutoencoderKL:
    folder = require_model_folder(Path(sd_folder) / "vae", DIFFUSERS_WEIGHTS)
    vae, info = AutoencoderKL.from_pretrained(folder, output_loading_info=True)
    raise_on_loading_info(folder, info)
    return vae


def load_image_encoder(folder: str | Path) -> CLIPVisionModelWithProjection:
    folder = require_model_folder(folder, TRANSFORMERS_WEIGHTS)
    encoder, info = CLIPVisionModelWithProjection.from_pretrained(folder, output_loading_info=True)
    raise_on_loading_info(folder, info)
    return encoder


def load_motion_adapter(path: str | Path, num_attention_heads: int = 8, norm_num_groups: int = 32) -> MotionAdapter:
    """A MotionAdapter folder, or an original AnimateDiff file (.ckpt/.pt/.pth/.safetensors).

    Head count and norm groups are not recorded in original files; the defaults are AnimateDiff's.
    """
    path = require_file(path)
    if path.is_dir():
        folder = require_model_folder(path, DIFFUSERS_WEIGHTS)
        adapter, info = MotionAdapter.from_pretrained(folder, output_loading_info=True)
        raise_on_loading_info(folder, info)
        return adapter
    return motion_adapter_from_original(read_state_dict(path), path, num_attention_heads, norm_num_groups)


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file
        state = load_file(str(path))
    else:
        state = torch.load(path, map_location="cpu", weights_only=True)
    state = state.get("state_dict", state)
    return {k.removeprefix("module."): v for k, v in state.items()}


def _indices(state: dict, pattern: str) -> list[int]:
    return sorted({int(m.group(1)) for k in state if (m := re.match(pattern, k))})


def original_motion_config(state: dict, num_attention_heads: int, norm_num_groups: int) -> dict:
    """MotionAdapter config read off the shapes and key names of an original motion-module file."""
    levels = _indices(state, r"down_blocks\.(\d+)\.motion_modules\.")
    if not levels:
        raise ValueError("not an AnimateDiff motion-module state dict: no down_blocks.*.motion_modules.* keys")
    norm = "down_blocks.{}.motion_modules.0.temporal_transformer.norm.weight"
    tables = [v for k, v in state.items() if k.endswith("pos_encoder.pe")]
    return {
        "block_out_channels": [int(state[norm.format(i)].shape[0]) for i in levels],
        "motion_layers_per_block": len(_indices(state, r"down_blocks\.0\.motion_modules\.(\d+)\.")),
        "motion_transformer_layers_per_block": len(_indices(
            state, r"down_blocks\.0\.motion_modules\.0\.temporal_transformer\.transformer_blocks\.(\d+)\.")),
        "use_motion_mid_block": any(k.startswith("mid_block.") for k in state),
        "motion_mid_block_layers_per_block": max(1, len(_indices(state, r"mid_block\.motion_modules\.(\d+)\."))),
        "motion_max_seq_length": int(tables[0].shape[1]) if tables else 32,
        "motion_num_attention_heads": num_attention_heads,
        "motion_norm_num_groups": norm_num_groups,
    }


def motion_adapter_from_original(state: dict, source: str | Path, num_attention_heads: int = 8,
                                 norm_num_groups: int = 32) -> MotionAdapter:
    adapter = MotionAdapter(**original_motion_config(state, num_attention_heads, norm_num_groups))
    converted = convert_animatediff_checkpoint_to_diffusers(state)
    expected = adapter.state_dict()
    mismatched = [k for k, v in converted.items() if k in expected and expected[k].shape != v.shape]
    raise_on_mismatch(source, expected.keys() - converted.keys(), converted.keys() - expected.keys(), mismatched,
                      POSITION_TABLE_SUFFIX)
    adapter.load_state_dict(converted, strict=False)
    return adapter


def _load_spatial(model: AA2Model, state: dict, source: str) -> None:
    """Spatial weights into the DenoisingNet: only its motion modules may stay unloaded."""
    result = model.denoising_unet.load_state_dict(state, strict=False)
    missing = [k for k in result.missing_keys if ".motion_modules." not in k]
    raise_on_mismatch(source, missing, result.unexpected_keys)


def widen_conv_in(target: torch.nn.Conv2d, source: torch.nn.Conv2d) -> None:
    """Pretrained conv_in weights into the first input channels, zeros for the added ones."""
    with torch.no_grad():
        target.weight.zero_()
        target.weight[:, : source.in_channels].copy_(source.weight)
        target.bias.copy_(source.bias)


def aa2_from_unet(unet: UNet2DConditionModel, adapter: MotionAdapter | None = None,
                  options: AA2Options | None = None) -> AA2Model:
    """AA2 initialised from a pretrained 2D UNet (ReferenceNet and DenoisingNet) and motion modules."""
    options = options or AA2Options()
    model = AA2Model(unet=public_config(unet.config), motion=public_config(adapter.config) if adapter else None,
                     options=options.to_dict())
    state = unet.state_dict()
    model.reference_unet.load_state_dict(state)
    _load_spatial(model, {k: v for k, v in state.items() if not k.startswith("conv_in.")}, "pretrained UNet")
    widen_conv_in(model.conv_in, unet.conv_in)
    if adapter is not None:
        model.denoising_unet.load_motion_modules(adapter)
    return model


def inflate_to_video(model: AA2Model, adapter: MotionAdapter) -> AA2Model:
    """Stage 1 -> stage 2: the same AA2 weights with AnimateDiff temporal layers added."""
    if model.is_video:
        raise ValueError("the model already has temporal layers")
    video = AA2Model(unet=dict(model.config.unet), motion=public_config(adapter.config),
                     options=dict(model.config.options))
    result = video.load_state_dict(model.state_dict(), strict=False)
    missing = [k for k in result.missing_keys if ".motion_modules." not in k]
    raise_on_mismatch("image-mode AA2 model", missing, result.unexpected_keys)
    video.denoising_unet.load_motion_modules(adapter)
    return video.to(dtype=model.dtype, device=model.device)


def aa2_from_pretrained(sd_folder: str | Path, motion_path: str | Path | None = None,
                        options: AA2Options | None = None) -> AA2Model:
    """AA2 from a SD 1.5 diffusers folder and, for video mode, an AnimateDiff motion module."""
    adapter = load_motion_adapter(motion_path) if motion_path is not None else None
    return aa2_from_unet(load_unet2d(sd_folder), adapter, options)
