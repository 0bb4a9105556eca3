"""At its initial state AA2 is the pretrained UNet; reference tokens reach only mid/up blocks."""

from __future__ import annotations

import pytest
import torch
from diffusers import UNetMotionModel

from model import AA2Options, aa2_from_unet
from model.configs import tiny_options
from model.pose import frames_to_batch
from model.reference import ReferenceBank

from .conftest import BATCH, FRAMES, make_inputs, perturb_new_parts


def stock_2d(unet, inputs):
    frames = inputs["noisy_latents"].shape[2]
    out = unet(frames_to_batch(inputs["noisy_latents"]), inputs["timesteps"].repeat_interleave(frames),
               encoder_hidden_states=inputs["image_embeds"].repeat_interleave(frames, 0)).sample
    return out.reshape(BATCH, frames, *out.shape[1:]).permute(0, 2, 1, 3, 4)


@torch.no_grad()
def test_image_mode_equals_stock_unet2d_at_init(tiny_unet):
    model = aa2_from_unet(tiny_unet, None, tiny_options()).eval()
    inputs = make_inputs(reference=False)
    torch.testing.assert_close(model(**inputs), stock_2d(tiny_unet, inputs), rtol=0, atol=1e-5)


@torch.no_grad()
def test_video_mode_equals_stock_unet_motion_at_init(tiny_unet, tiny_adapter):
    stock = UNetMotionModel.from_unet2d(tiny_unet, tiny_adapter).eval()
    model = aa2_from_unet(tiny_unet, tiny_adapter, tiny_options()).eval()
    inputs = make_inputs(reference=False)
    expected = stock(inputs["noisy_latents"], inputs["timesteps"],
                     encoder_hidden_states=inputs["image_embeds"].repeat_interleave(FRAMES, 0)).sample
    torch.testing.assert_close(model(**inputs), expected, rtol=0, atol=1e-5)


@torch.no_grad()
def test_trained_new_parts_change_the_output(tiny_unet):
    model = aa2_from_unet(tiny_unet, None, tiny_options()).eval()
    inputs = make_inputs(reference=False)
    before = model(**inputs)
    perturb_new_parts(model)
    assert (model(**inputs) - before).abs().max() > 1e-3


def block_outputs(model, inputs):
    outputs, hooks = {}, []
    unet = model.denoising_unet
    named = [(f"down{i}", b) for i, b in enumerate(unet.down_blocks)] + [("mid", unet.mid_block)]
    named += [(f"up{i}", b) for i, b in enumerate(unet.up_blocks)]
    for name, block in named:
        hooks.append(block.register_forward_hook(
            lambda m, i, o, name=name: outputs.__setitem__(name, (o[0] if isinstance(o, tuple) else o).clone())))
    with torch.no_grad():
        model(**inputs)
    for hook in hooks:
        hook.remove()
    return outputs


@pytest.mark.parametrize("scope", ["mid_up", "all"])
def test_reference_reaches_configured_blocks_only(tiny_unet, tiny_adapter, scope):
    model = aa2_from_unet(tiny_unet, tiny_adapter, tiny_options(reference_fusion=scope)).eval()
    without = block_outputs(model, make_inputs(reference=False))
    with_ref = block_outputs(model, make_inputs(reference=True))
    changed = {name for name in without if not torch.equal(without[name], with_ref[name])}
    down = {name for name in without if name.startswith("down")}
    decoder = set(without) - down
    assert decoder <= changed
    # With fusion everywhere the first (attention) down block changes and so does all that follows.
    assert changed & down == (set() if scope == "mid_up" else down)


def test_reference_net_writes_only_fused_layers(tiny_unet):
    model = aa2_from_unet(tiny_unet, None, tiny_options()).eval()
    inputs = make_inputs()
    with torch.no_grad():
        bank = model.run_reference(inputs["ref_latents"], inputs["timesteps"], inputs["image_embeds"])
    assert sorted(bank.layers()) == ["mid_block.attentions.0.transformer_blocks.0.attn1",
                                     "up_blocks.1.attentions.0.transformer_blocks.0.attn1",
                                     "up_blocks.1.attentions.1.transformer_blocks.0.attn1"]
    assert bank.read("mid_block.attentions.0.transformer_blocks.0.attn1").shape == (BATCH, 64, 64)


def test_reference_bank_slots_given_up_front_are_empty_until_written():
    bank = ReferenceBank(["mid", "up"])
    bank.write("up", torch.ones(1, 4, 8))
    assert bank.layers() == ["up"]
    assert torch.equal(bank.read("up"), torch.ones(1, 4, 8))
    with pytest.raises(KeyError, match="no tokens for mid"):
        bank.read("mid")


@pytest.mark.parametrize("frames", [1, 4])
@pytest.mark.parametrize("video", [False, True])
def test_output_shape_image_and_video_mode(tiny_unet, tiny_adapter, frames, video):
    model = aa2_from_unet(tiny_unet, tiny_adapter if video else None, tiny_options()).eval()
    with torch.no_grad():
        out = model(**make_inputs(frames=frames, size=8))
    assert out.shape == (BATCH, 4, frames, 8, 8)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize(
    "options, drop, message",
    [
        ({"use_environment": False}, None, "environment input is switched off"),
        ({}, "env_latents", "env_latents and mask are required"),
        ({"use_depth": False}, None, "structured depth"),
        ({"use_object": False}, None, "object guider is switched off"),
    ],
)
def test_inputs_must_match_switches(tiny_unet, options, drop, message):
    model = aa2_from_unet(tiny_unet, None, tiny_options(**options))
    inputs = make_inputs(size=8)
    inputs.pop(drop, None)
    with pytest.raises(ValueError, match=message):
        model(**inputs)


def test_switched_off_parts_have_no_parameters(tiny_unet):
    model = aa2_from_unet(tiny_unet, None, tiny_options(use_environment=False, use_depth=False, use_object=False))
    assert model.conv_in.in_channels == 4
    assert model.pose_modulation.depth_guider is None and model.object_guider is None
    assert len(model.object_blend) == 0
    inputs = make_inputs(size=8, environment=False, depth=False, objects=False)
    with torch.no_grad():
        assert model(**inputs).shape == (BATCH, 4, FRAMES, 8, 8)


def test_options_reject_unknown_fusion_scope():
    with pytest.raises(ValueError, match="reference_fusion"):
        AA2Options(reference_fusion="down")


@pytest.mark.parametrize("video", [False, True])
def test_each_clip_attends_to_its_own_reference(tiny_unet, tiny_adapter, video):
    model = aa2_from_unet(tiny_unet, tiny_adapter if video else None, tiny_options()).eval()
    inputs = make_inputs(size=8)
    other = dict(inputs, ref_latents=inputs["ref_latents"].clone())
    other["ref_latents"][1] += 1.0
    with torch.no_grad():
        first, second = model(**inputs), model(**other)
    assert torch.equal(first[0], second[0])
    assert not torch.allclose(first[1], second[1])
