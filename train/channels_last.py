"""Rewrites that let Inductor's channels-last code run near the card's memory bandwidth
(``model.rewrite_vae`` applies them to the compiled VAE encoder, ``model.compile_channels_last``
the GroupNorm one to the model).

Compiled, the SD VAE encoder runs its convolutions in channels-last memory format (cuDNN's
native layout on Hopper), as the AA2 model does with ``model.compile_channels_last``. Two ops
then run far below the card's bandwidth:

- ``nn.GroupNorm``: Inductor reduces each group (a few channels, every pixel) in one pass whose
  loads stride across the channels-last rows. :class:`ChannelSumGroupNorm` computes the same
  statistics from per-channel sums over the pixels, a reduction whose loads run along the
  contiguous channels, then combines channels into groups. It is differentiable:
  :func:`swap_group_norms` puts it in any module, trained layers included.
- The VAE's mid-block self-attention: one head of 512 channels, more than the fused attention
  kernels take, so SDPA falls back to its slow memory-efficient kernel. diffusers'
  ``AttnProcessor`` (scores by matrix product, softmax in float32, product with the values)
  runs it as two cuBLAS products instead (:func:`rewrite_vae_encoder`).

Both give the same results up to rounding and keep the parameters (and their names) as they were.
"""
from __future__ import annotations

import torch
from diffusers.models.attention_processor import Attention, AttnProcessor
from torch import nn


class ChannelSumGroupNorm(nn.GroupNorm):
    """``nn.GroupNorm`` computed from per-channel sums (same parameters, same results up to rounding).

    Statistics are float32: the mean and E[x^2] - mean^2 of each group, from the sums of x and
    x^2 over the pixels of each channel. The output has the input's dtype, also under CUDA
    autocast, where ``nn.GroupNorm`` gives float32: what follows a norm in these models (SiLU and
    a convolution, or a linear layer) casts to bf16 anyway."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c = x.shape[:2]
        per_group = c // self.num_groups
        pixels = tuple(range(2, x.ndim))
        count = per_group * x[0, 0].numel()
        xf = x.float()
        total = xf.sum(pixels).view(n, self.num_groups, per_group).sum(-1)
        squares = xf.square().sum(pixels).view(n, self.num_groups, per_group).sum(-1)
        mean = total / count
        rstd = torch.rsqrt((squares / count - mean.square()).clamp_min(0) + self.eps)
        scale = rstd.repeat_interleave(per_group, dim=1)  # [n, c]
        shift = -mean.repeat_interleave(per_group, dim=1) * scale
        if self.affine:
            scale, shift = scale * self.weight.float(), shift * self.weight.float() + self.bias.float()
        shape = (n, c) + (1,) * len(pixels)
        return (xf * scale.view(shape) + shift.view(shape)).to(x.dtype)


def swap_group_norms(module: nn.Module) -> nn.Module:
    """Replace every ``nn.GroupNorm`` inside ``module`` by a :class:`ChannelSumGroupNorm` holding
    the same parameters (state-dict keys unchanged); in place, returns ``module``."""
    for parent in list(module.modules()):
        for name, child in list(parent.named_children()):
            if type(child) is nn.GroupNorm:
                norm = ChannelSumGroupNorm(child.num_groups, child.num_channels, child.eps, child.affine)
                if child.affine:
                    norm.weight, norm.bias = child.weight, child.bias
                setattr(parent, name, norm)
    return module


def rewrite_vae_encoder(encoder: nn.Module) -> nn.Module:
    """:func:`swap_group_norms` and diffusers' ``AttnProcessor`` for the attention layers of a
    frozen VAE encoder; in place, returns ``encoder``."""
    for layer in encoder.modules():
        if isinstance(layer, Attention):
            layer.set_processor(AttnProcessor())
    return swap_group_norms(encoder)
