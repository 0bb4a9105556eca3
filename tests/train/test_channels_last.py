"""The rewrites for Inductor's channels-last code: GroupNorm from per-channel sums and the VAE's
attention as matrix products must give what the stock modules give, forward and backward."""

import pytest
import torch
from diffusers.models.attention_processor import Attention, AttnProcessor
from torch import nn

from model import build_model, tiny_config
from tests.model.conftest import make_inputs
from train.channels_last import ChannelSumGroupNorm, rewrite_vae_encoder, swap_group_norms
from train.components import tiny_vae


@pytest.mark.parametrize("shape", [(2, 32, 6, 10), (2, 32, 50), (1, 32, 3, 4, 5)])
def test_channel_sum_group_norm_matches_group_norm_with_gradients(shape):
    torch.manual_seed(0)
    stock = nn.GroupNorm(8, 32, eps=1e-6)
    nn.init.normal_(stock.weight), nn.init.normal_(stock.bias)
    ours = swap_group_norms(nn.Sequential(stock))[0]
    assert isinstance(ours, ChannelSumGroupNorm) and ours.weight is stock.weight
    # an offset mean and unequal groups: the E[x^2] - mean^2 form must still hold in float32
    x = (3 + torch.randn(shape) * torch.linspace(0.1, 2, 32).view(1, 32, *[1] * (len(shape) - 2)))
    if len(shape) == 4:
        x = x.contiguous(memory_format=torch.channels_last)
    x1, x2 = x.clone().requires_grad_(), x.clone().requires_grad_()
    out_stock, out_ours = stock(x1), ours(x2)
    torch.testing.assert_close(out_ours, out_stock, rtol=1e-4, atol=1e-4)
    grad = torch.randn_like(out_stock)
    w_stock = torch.autograd.grad(out_stock, (x1, stock.weight, stock.bias), grad)
    w_ours = torch.autograd.grad(out_ours, (x2, stock.weight, stock.bias), grad)
    for a, b in zip(w_ours, w_stock):
        torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-3)


def test_the_output_keeps_the_input_dtype():
    norm = ChannelSumGroupNorm(4, 8)
    x = torch.randn(2, 8, 4, 4).to(torch.bfloat16)
    assert norm(x).dtype == torch.bfloat16
    torch.testing.assert_close(norm(x).float(), norm(x.float()), rtol=0.02, atol=0.02)


def test_rewritten_vae_encoder_gives_the_stock_encoder_output():
    torch.manual_seed(0)
    vae = tiny_vae().eval()
    images = torch.rand(3, 3, 64, 64) * 2 - 1
    with torch.no_grad():
        stock = vae.encoder(images)
        rewrite_vae_encoder(vae.encoder)
        ours = vae.encoder(images)
    assert not any(type(m) is nn.GroupNorm for m in vae.encoder.modules())
    attention = [m for m in vae.encoder.modules() if isinstance(m, Attention)]
    assert attention and all(isinstance(m.processor, AttnProcessor) for m in attention)
    torch.testing.assert_close(ours, stock, rtol=1e-4, atol=1e-4)


def test_swapped_norms_keep_the_model_state_dict_and_output():
    torch.manual_seed(0)
    model = build_model(tiny_config(video=True)).eval()
    keys = list(model.state_dict())
    inputs = make_inputs(batch=1, frames=2, size=8, seed=1)
    with torch.no_grad():
        stock = model(**inputs)
        swap_group_norms(model)
        ours = model(**inputs)
    assert sum(isinstance(m, ChannelSumGroupNorm) for m in model.modules()) > 10
    assert list(model.state_dict()) == keys
    torch.testing.assert_close(ours, stock, rtol=1e-4, atol=1e-4)
