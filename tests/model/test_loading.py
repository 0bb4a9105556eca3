"""Pretrained parts load from real on-disk layouts; a missing or mismatched file is a clear error."""

from __future__ import annotations

import re

import pytest
import torch
from diffusers import AutoencoderKL
from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

from model import (AA2Model, CheckpointMismatchError, aa2_from_pretrained, aa2_from_unet, inflate_to_video,
                   load_image_encoder, load_motion_adapter, load_unet2d, load_vae)
from model.configs import tiny_options

from .conftest import make_inputs, perturb_new_parts


@pytest.fixture(scope="module")
def sd_folder(tmp_path_factory, tiny_unet):
    root = tmp_path_factory.mktemp("sd15")
    tiny_unet.save_pretrained(root / "unet")
    AutoencoderKL(block_out_channels=(8, 16), down_block_types=("DownEncoderBlock2D",) * 2,
                  up_block_types=("UpDecoderBlock2D",) * 2, latent_channels=4, norm_num_groups=8,
                  sample_size=32).save_pretrained(root / "vae")
    CLIPVisionModelWithProjection(CLIPVisionConfig(
        hidden_size=32, intermediate_size=37, num_hidden_layers=2, num_attention_heads=4, image_size=32,
        patch_size=8, projection_dim=32)).save_pretrained(root / "image_encoder")
    return root


def to_original_key(key: str) -> str:
    """diffusers MotionAdapter key -> original AnimateDiff key (inverse of diffusers' conversion)."""
    key = re.sub(r"(motion_modules\.\d+)\.", r"\1.temporal_transformer.", key)
    for new, old in ((".norm1", ".norms.0"), (".norm2", ".norms.1"), (".norm3", ".ff_norm"),
                     (".attn1", ".attention_blocks.0"), (".attn2", ".attention_blocks.1")):
        key = key.replace(new, old)
    return key


def original_state_dict(adapter) -> dict:
    state = {}
    for key, value in adapter.state_dict().items():
        if key.endswith("pos_embed.pe"):
            block = to_original_key(key.removesuffix("pos_embed.pe"))
            for attention in (0, 1):
                state[f"{block}attention_blocks.{attention}.pos_encoder.pe"] = value.clone()
        else:
            state[to_original_key(key)] = value.clone()
    return state


def assert_same_weights(a: torch.nn.Module, b: torch.nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)


def test_sd_folder_parts_load(sd_folder, tiny_unet):
    assert_same_weights(load_unet2d(sd_folder), tiny_unet)
    assert isinstance(load_vae(sd_folder), AutoencoderKL)
    encoder = load_image_encoder(sd_folder / "image_encoder")
    assert encoder(pixel_values=torch.randn(1, 3, 32, 32)).image_embeds.shape == (1, 32)


def test_motion_adapter_folder_and_original_file_load_the_same_weights(tmp_path, tiny_adapter):
    tiny_adapter.save_pretrained(tmp_path / "adapter")
    assert_same_weights(load_motion_adapter(tmp_path / "adapter"), tiny_adapter)
    torch.save({"state_dict": original_state_dict(tiny_adapter)}, tmp_path / "mm_tiny.ckpt")
    from_file = load_motion_adapter(tmp_path / "mm_tiny.ckpt", num_attention_heads=2, norm_num_groups=8)
    assert_same_weights(from_file, tiny_adapter)
    assert from_file.config.motion_max_seq_length == tiny_adapter.config.motion_max_seq_length


def test_aa2_from_pretrained_folders(sd_folder, tmp_path, tiny_unet, tiny_adapter):
    torch.save(original_state_dict(tiny_adapter), tmp_path / "mm.ckpt")
    adapter = load_motion_adapter(tmp_path / "mm.ckpt", num_attention_heads=2, norm_num_groups=8)
    model = aa2_from_unet(load_unet2d(sd_folder), adapter, tiny_options())
    assert_same_weights(model.reference_unet, tiny_unet)
    torch.testing.assert_close(model.conv_in.weight[:, :4], tiny_unet.conv_in.weight, rtol=0, atol=0)
    assert not model.conv_in.weight[:, 4:].any()
    motion = {k: v for k, v in model.denoising_unet.state_dict().items() if ".motion_modules." in k}
    assert len(motion) == len(tiny_adapter.state_dict())
    image_only = aa2_from_pretrained(sd_folder, options=tiny_options())
    assert not image_only.is_video


def test_missing_files_are_named(sd_folder, tmp_path):
    with pytest.raises(FileNotFoundError, match=r"unet[/\\]config.json"):
        load_unet2d(tmp_path)
    with pytest.raises(FileNotFoundError, match="mm_sd_v15_v2.ckpt"):
        load_motion_adapter(tmp_path / "mm_sd_v15_v2.ckpt")
    (tmp_path / "vae").mkdir()
    (tmp_path / "vae" / "config.json").write_text((sd_folder / "vae" / "config.json").read_text())
    with pytest.raises(FileNotFoundError, match="missing model weights"):
        load_vae(tmp_path)


def test_mismatched_motion_checkpoint_is_rejected(tmp_path, tiny_adapter):
    state = original_state_dict(tiny_adapter)
    dropped = next(k for k in state if k.endswith("ff_norm.weight"))
    torch.save({k: v for k, v in state.items() if k != dropped}, tmp_path / "missing.ckpt")
    with pytest.raises(CheckpointMismatchError, match="missing"):
        load_motion_adapter(tmp_path / "missing.ckpt", num_attention_heads=2, norm_num_groups=8)
    torch.save({**state, "down_blocks.0.motion_modules.0.extra.weight": torch.zeros(1)}, tmp_path / "extra.ckpt")
    with pytest.raises(CheckpointMismatchError, match="unexpected"):
        load_motion_adapter(tmp_path / "extra.ckpt", num_attention_heads=2, norm_num_groups=8)
    wrong = next(k for k in state if k.endswith("proj_in.weight"))
    torch.save({**state, wrong: state[wrong][:, :-1]}, tmp_path / "shape.ckpt")
    with pytest.raises(CheckpointMismatchError, match="mismatched shape"):
        load_motion_adapter(tmp_path / "shape.ckpt", num_attention_heads=2, norm_num_groups=8)
    torch.save({"foo.weight": torch.zeros(1)}, tmp_path / "other.ckpt")
    with pytest.raises(ValueError, match="not an AnimateDiff"):
        load_motion_adapter(tmp_path / "other.ckpt")


def test_save_load_round_trip_gives_identical_outputs(tmp_path, tiny_unet, tiny_adapter):
    model = aa2_from_unet(tiny_unet, tiny_adapter, tiny_options()).eval()
    perturb_new_parts(model)
    model.save_pretrained(tmp_path / "aa2")
    loaded = AA2Model.from_pretrained(tmp_path / "aa2").eval()
    inputs = make_inputs(size=8)
    with torch.no_grad():
        torch.testing.assert_close(loaded(**inputs), model(**inputs), rtol=0, atol=0)


def test_from_pretrained_rejects_weights_of_another_architecture(tmp_path, tiny_unet):
    aa2_from_unet(tiny_unet, None, tiny_options(use_object=False)).save_pretrained(tmp_path / "small")
    config = (tmp_path / "small" / "config.json").read_text()
    aa2_from_unet(tiny_unet, None, tiny_options()).save_pretrained(tmp_path / "full")
    (tmp_path / "full" / "config.json").write_text(config)
    with pytest.raises(CheckpointMismatchError, match="unexpected"):
        AA2Model.from_pretrained(tmp_path / "full")
    with pytest.raises(FileNotFoundError, match="missing model config"):
        AA2Model.from_pretrained(tmp_path / "nothing")


def test_inflate_keeps_stage1_weights_and_adds_motion(tiny_unet, tiny_adapter):
    image = aa2_from_unet(tiny_unet, None, tiny_options())
    perturb_new_parts(image)
    video = inflate_to_video(image, tiny_adapter)
    video_state = video.state_dict()
    assert all(torch.equal(v, video_state[k]) for k, v in image.state_dict().items())
    assert video.is_video and any(".motion_modules." in k for k in video_state)
    with torch.no_grad():
        assert video(**make_inputs(size=8)).shape == (2, 4, 3, 8, 8)
