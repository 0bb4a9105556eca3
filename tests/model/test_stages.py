"""Every parameter a stage trains receives a gradient; nothing else does."""

from __future__ import annotations

import pytest
import torch

from model import aa2_from_unet, parameter_groups, set_trainable
from model.configs import tiny_options
from model.stages import reference_dead_parameters

from .conftest import make_inputs, perturb_new_parts


def backward(model, size=8):
    model.zero_grad(set_to_none=True)
    model(**make_inputs(size=size)).square().mean().backward()


def test_stage1_every_trained_parameter_gets_a_gradient(tiny_unet):
    model = aa2_from_unet(tiny_unet, None, tiny_options())
    perturb_new_parts(model)
    groups = set_trainable(model, 1)
    assert set(groups) == {"reference_net", "denoising_spatial", "conv_in", "pose_modulation", "object_guider",
                           "spatial_blend"}
    backward(model)
    names = {id(p): n for n, p in model.named_parameters()}
    starved = [names[id(p)] for params in groups.values() for p in params if p.grad is None or not p.grad.any()]
    assert starved == []


def test_reference_dead_parameters_really_get_no_gradient(tiny_unet):
    model = aa2_from_unet(tiny_unet, None, tiny_options())
    model.requires_grad_(True)
    backward(model)
    dead = reference_dead_parameters(model.reference_unet)
    assert dead, "the last reference layer's cross-attention and conv_out must be listed"
    for name, param in model.reference_unet.named_parameters():
        got_gradient = param.grad is not None and bool(param.grad.any())
        assert got_gradient != (name in dead), name


def test_zero_initialised_parts_learn_from_the_first_step(tiny_unet):
    model = aa2_from_unet(tiny_unet, None, tiny_options())
    set_trainable(model, 1)
    backward(model)
    assert model.pose_modulation.conv_out.weight.grad.abs().sum() > 0
    assert all(blend.gate.grad.abs().sum() > 0 for blend in model.object_blend.values())
    assert model.conv_in.weight.grad[:, 4:].abs().sum() > 0
    optimiser = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    optimiser.step()
    backward(model)
    assert all(blend.alpha_conv.weight.grad.abs().sum() > 0 for blend in model.object_blend.values())
    assert model.pose_modulation.skeleton_guider.layers[0].weight.grad.abs().sum() > 0


def test_stage2_trains_only_temporal_layers(tiny_unet, tiny_adapter):
    model = aa2_from_unet(tiny_unet, tiny_adapter, tiny_options())
    groups = set_trainable(model, 2)
    backward(model)
    temporal = {id(p) for p in groups["temporal"]}
    assert temporal and all(p.grad is not None and p.grad.any() for p in groups["temporal"])
    assert all(p.grad is None for p in model.parameters() if id(p) not in temporal)


def test_stage2_needs_temporal_layers(tiny_unet):
    model = aa2_from_unet(tiny_unet, None, tiny_options())
    with pytest.raises(ValueError, match="inflate"):
        parameter_groups(model, 2)


@pytest.mark.parametrize("stage", [1, 2])
def test_gradient_checkpointing_gives_the_same_gradients(tiny_unet, tiny_adapter, stage):
    model = aa2_from_unet(tiny_unet, tiny_adapter if stage == 2 else None, tiny_options())
    perturb_new_parts(model)
    groups = set_trainable(model, stage)
    backward(model)
    plain = [p.grad.clone() for params in groups.values() for p in params]
    model.enable_gradient_checkpointing()
    backward(model)
    checkpointed = [p.grad for params in groups.values() for p in params]
    for a, b in zip(plain, checkpointed):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


def test_bf16_autocast_forward_and_backward(tiny_unet, tiny_adapter):
    model = aa2_from_unet(tiny_unet, tiny_adapter, tiny_options())
    set_trainable(model, 2)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(**make_inputs(size=8))
    assert out.dtype == torch.bfloat16
    out.float().square().mean().backward()
    assert all(p.grad is not None and p.grad.dtype == torch.float32 for p in model.parameters() if p.requires_grad)
