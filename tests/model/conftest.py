"""Tiny models and deterministic inputs shared by the model tests."""

from __future__ import annotations

import pytest
import torch
from diffusers import MotionAdapter, UNet2DConditionModel

from model.configs import tiny_motion_config, tiny_unet_config

BATCH, FRAMES, LATENT = 2, 3, 16


def make_inputs(batch: int = BATCH, frames: int = FRAMES, size: int = LATENT, embed_dim: int = 32,
                seed: int = 0, reference: bool = True, depth: bool = True, environment: bool = True,
                objects: bool = True) -> dict:
    g = torch.Generator().manual_seed(seed)

    def rand(*shape):
        return torch.randn(*shape, generator=g)

    inputs = {
        "noisy_latents": rand(batch, 4, frames, size, size),
        "timesteps": torch.tensor([17, 503, 999][:batch]),
        "ref_latents": rand(batch, 4, size, size),
        # Two tokens: over a single key, softmax is 1 and cross-attention's to_q/to_k get no gradient.
        "image_embeds": rand(batch, 2, embed_dim),
        "skeleton": rand(batch, 3, frames, 8 * size, 8 * size),
    }
    if not reference:
        inputs["ref_latents"] = None
    if environment:
        inputs["env_latents"] = rand(batch, 4, frames, size, size)
        inputs["mask"] = (rand(batch, 1, frames, size, size) > 0).float()
    if depth:
        inputs["struct_depth"] = rand(batch, 1, frames, 8 * size, 8 * size)
    if objects:
        inputs["object_latents"] = rand(batch, 4, frames, size, size)
    return inputs


@pytest.fixture(autouse=True, scope="package")
def single_thread():
    """Tiny ops run faster on one thread than contended across a shared machine's cores."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def tiny_unet() -> UNet2DConditionModel:
    torch.manual_seed(0)
    return UNet2DConditionModel.from_config(tiny_unet_config()).eval()


@pytest.fixture(scope="module")
def tiny_adapter() -> MotionAdapter:
    torch.manual_seed(1)
    adapter = MotionAdapter.from_config(tiny_motion_config())
    # Stock AnimateDiff init zeroes proj_out; random values make the temporal layers matter.
    with torch.no_grad():
        for p in adapter.parameters():
            p.normal_(0, 0.02) if p.dim() > 1 else None
    return adapter.eval()


def perturb_new_parts(model) -> None:
    """Move every zero-initialised AA2 part away from zero (as training would)."""
    g = torch.Generator().manual_seed(7)
    with torch.no_grad():
        for module in (model.pose_modulation.conv_out, *(b.alpha_conv for b in model.object_blend.values())):
            module.weight.copy_(torch.randn(module.weight.shape, generator=g) * 0.05)
        for blend in model.object_blend.values():
            blend.gate.fill_(0.7)
        model.conv_in.weight[:, 4:].copy_(torch.randn(model.conv_in.weight[:, 4:].shape, generator=g) * 0.05)
