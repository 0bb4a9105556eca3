"""Object guider and spatial blending: object latents enter the DenoisingNet's decoder.

The guider is a light fully convolutional pyramid over the VAE latent of the object sequence:
one 3x3 conv at latent resolution and one stride-2 3x3 conv per lower decoder scale (three for
SD 1.5: /1, /2, /4, /8 = the resolutions of the up blocks' and the mid block's attention), each
scale projected by a 1x1 conv to that scale's decoder width.

Spatial blending (after each decoder self-attention): alpha = g * sigmoid(conv(cat(z, z_obj))),
z' = alpha * z_obj + (1 - alpha) * z, where z is the self-attention output (with its reference
tokens) that the transformer block then adds to its residual stream: the blend runs inside the
attn1 processor, which sees the block's normalised input, not the residual stream itself.

Initialisation: the paper's zero-initialised Conv2D+Sigmoid would give alpha = 0.5 at step 0,
which changes the pretrained network. The learnable gate g starts at 0, so alpha is exactly 0
and the network starts exactly as the pretrained UNet, while g itself receives a gradient from
the first step (d loss/d g = sigmoid(.) * (z_obj - z) . d loss/d z'). A very negative bias
instead would leave the conv a vanishing gradient (sigmoid' ~ e^bias).
"""

from __future__ import annotations

import torch
from torch import nn


class ObjectGuider(nn.Module):
    """Object latent [N, 4, h, w] -> one feature map per decoder scale ([N, C_s, h/2^s, w/2^s])."""

    def __init__(self, in_channels: int, trunk_channels: tuple[int, ...], out_channels: tuple[int, ...]) -> None:
        super().__init__()
        if len(trunk_channels) != len(out_channels):
            raise ValueError(f"object guider needs one trunk width per decoder scale ({len(out_channels)}),"
                             f" got {len(trunk_channels)}")
        widths = (in_channels, *trunk_channels)
        self.convs = nn.ModuleList(
            nn.Conv2d(widths[i], widths[i + 1], 3, stride=1 if i == 0 else 2, padding=1)
            for i in range(len(trunk_channels))
        )
        self.heads = nn.ModuleList(nn.Conv2d(t, c, 1) for t, c in zip(trunk_channels, out_channels))
        self.act = nn.SiLU()

    def forward(self, latents: torch.Tensor) -> tuple[torch.Tensor, ...]:
        features, x = [], latents
        for conv, head in zip(self.convs, self.heads):
            x = self.act(conv(x))
            features.append(head(x))
        return tuple(features)


class SpatialBlend(nn.Module):
    """Gated Conv2D+Sigmoid blend of decoder tokens with the object features of their scale."""

    def __init__(self, channels: int, scale: int) -> None:
        super().__init__()
        self.scale = scale
        self.alpha_conv = nn.Conv2d(2 * channels, 1, 3, padding=1)
        self.gate = nn.Parameter(torch.zeros(1))
        nn.init.zeros_(self.alpha_conv.weight)
        nn.init.zeros_(self.alpha_conv.bias)

    def forward(self, tokens: torch.Tensor, object_features: tuple[torch.Tensor, ...]) -> torch.Tensor:
        objects = object_features[self.scale]
        n, c, h, w = objects.shape
        if tokens.shape != (n, h * w, c):
            raise ValueError(f"blend at scale {self.scale}: tokens {tuple(tokens.shape)} do not match"
                             f" object features {tuple(objects.shape)}")
        features = tokens.transpose(1, 2).reshape(n, c, h, w)
        alpha = self.gate * torch.sigmoid(self.alpha_conv(torch.cat([features, objects.to(features.dtype)], dim=1)))
        blended = features + alpha * (objects - features)
        return blended.flatten(2).transpose(1, 2)


def decoder_layer_scale(layer: str, num_levels: int) -> int:
    """Resolution level (0 = latent resolution) at which a mid/up-block attention layer runs."""
    if layer.startswith("mid_block."):
        return num_levels - 1
    up_index = int(layer.split(".")[1])
    return num_levels - 1 - up_index


def blend_key(layer: str) -> str:
    """ModuleDict keys may not contain dots."""
    return layer.replace(".", "__")
