"""Depth-wise pose modulation: skeleton and structured depth -> features added after conv_in.

Skeleton images and structured depth (depth kept only where the skeleton is drawn) each pass a
conv stack shaped like Animate Anyone's pose guider (widths 16-32-64-128, three stride-2 steps to
latent resolution). Depth features join the skeleton features through cross-attention per frame
(skeleton tokens query depth tokens), so the network can tell which limb is in front; a Conv3D
then mixes neighbouring frames to smooth per-frame pose errors; a zero-initialised conv maps the
result to the width of conv_in's output, so at step 0 the modulation adds exactly nothing.
"""

from __future__ import annotations

import torch
from diffusers.models.attention_processor import Attention
from torch import nn


class PoseGuider(nn.Module):
    """Conv stack: [N, C_in, H, W] -> [N, widths[-1], H/8, W/8]."""

    def __init__(self, in_channels: int, widths: tuple[int, ...]) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(in_channels, widths[0], 3, padding=1), nn.SiLU()]
        for cin, cout in zip(widths[:-1], widths[1:]):
            layers += [nn.Conv2d(cin, cin, 3, padding=1), nn.SiLU(),
                       nn.Conv2d(cin, cout, 3, padding=1, stride=2), nn.SiLU()]
        self.layers = nn.Sequential(*layers)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.layers(images)


class DepthCrossAttention(nn.Module):
    """Skeleton tokens attend to depth tokens of the same frame; residual update."""

    def __init__(self, channels: int, heads: int) -> None:
        super().__init__()
        self.norm_query = nn.LayerNorm(channels)
        self.norm_context = nn.LayerNorm(channels)
        self.attention = Attention(query_dim=channels, cross_attention_dim=channels, heads=heads,
                                   dim_head=channels // heads, out_bias=True)

    def forward(self, skeleton: torch.Tensor, depth: torch.Tensor) -> torch.Tensor:
        n, c, h, w = skeleton.shape
        query = skeleton.flatten(2).transpose(1, 2)
        context = depth.flatten(2).transpose(1, 2)
        update = self.attention(self.norm_query(query), encoder_hidden_states=self.norm_context(context))
        return skeleton + update.transpose(1, 2).reshape(n, c, h, w)


class PoseModulation(nn.Module):
    """[B, 3, F, H, W] skeleton (+ [B, 1, F, H, W] depth) -> [B*F, out_channels, H/8, W/8]."""

    def __init__(self, out_channels: int, widths: tuple[int, ...], heads: int, use_depth: bool) -> None:
        super().__init__()
        width = widths[-1]
        self.skeleton_guider = PoseGuider(3, widths)
        self.depth_guider = PoseGuider(1, widths) if use_depth else None
        self.depth_attention = DepthCrossAttention(width, heads) if use_depth else None
        self.temporal = nn.Conv3d(width, width, kernel_size=3, padding=1)
        self.act = nn.SiLU()
        self.conv_out = nn.Conv2d(width, out_channels, 3, padding=1)
        nn.init.zeros_(self.conv_out.weight)
        nn.init.zeros_(self.conv_out.bias)

    @property
    def uses_depth(self) -> bool:
        return self.depth_guider is not None

    def forward(self, skeleton: torch.Tensor, depth: torch.Tensor | None = None) -> torch.Tensor:
        if self.uses_depth != (depth is not None):
            raise ValueError("structured depth must be given exactly when the pose modulation uses depth")
        b = skeleton.shape[0]
        features = self.skeleton_guider(frames_to_batch(skeleton))
        if depth is not None:
            features = self.depth_attention(features, self.depth_guider(frames_to_batch(depth)))
        clip = batch_to_frames(features, b)
        clip = clip + self.act(self.temporal(clip))
        return self.conv_out(frames_to_batch(clip))


def frames_to_batch(video: torch.Tensor) -> torch.Tensor:
    """[B, C, F, H, W] -> [B*F, C, H, W], frame index fastest (the diffusers motion layout)."""
    b, c, f, h, w = video.shape
    return video.permute(0, 2, 1, 3, 4).reshape(b * f, c, h, w)


def batch_to_frames(frames: torch.Tensor, batch: int) -> torch.Tensor:
    """[B*F, C, H, W] -> [B, C, F, H, W]."""
    bf, c, h, w = frames.shape
    return frames.reshape(batch, bf // batch, c, h, w).permute(0, 2, 1, 3, 4)
