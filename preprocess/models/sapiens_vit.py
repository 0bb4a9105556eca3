"""Sapiens (Meta) in plain PyTorch: the ViT backbone and the pose-heatmap and depth heads.

Module and parameter names follow the official checkpoints (mmpretrain ``VisionTransformer`` as
``backbone``, mmpose ``HeatmapHead`` as ``head``, the Sapiens ``VitDepthHead`` as ``decode_head``)
so that their ``state_dict`` loads strictly, without mmengine. Layout: patch-16 conv embedding
(padding 2 for pose, 0 for depth), a learned position embedding without class token, pre-norm
blocks (LayerNorm eps 1e-6, GELU MLP), a final LayerNorm, tokens reshaped to a feature map.
Heads: stride-2 deconvs then 1x1 convs, each followed by InstanceNorm (no affine) and SiLU.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class SapiensArch:
    embed_dim: int
    num_layers: int
    num_heads: int
    ffn_dim: int


ARCHS = {
    "sapiens_0.3b": SapiensArch(1024, 24, 16, 4096),
    "sapiens_0.6b": SapiensArch(1280, 32, 16, 5120),
    "sapiens_1b": SapiensArch(1536, 40, 24, 6144),
    "sapiens_2b": SapiensArch(1920, 48, 32, 7680),
}


class _PatchEmbed(nn.Module):
    def __init__(self, dim: int, patch: int, padding: int):
        super().__init__()
        self.projection = nn.Conv2d(3, dim, kernel_size=patch, stride=patch, padding=padding)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.projection(x)


class _Attention(nn.Module):
    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(q, k, v)
        return self.proj(out.transpose(1, 2).reshape(b, n, d))


class _FFN(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.layers = nn.Sequential(nn.Sequential(nn.Linear(dim, hidden), nn.GELU()), nn.Linear(hidden, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


class _Block(nn.Module):
    def __init__(self, arch: SapiensArch):
        super().__init__()
        self.ln1 = nn.LayerNorm(arch.embed_dim, eps=1e-6)
        self.attn = _Attention(arch.embed_dim, arch.num_heads)
        self.ln2 = nn.LayerNorm(arch.embed_dim, eps=1e-6)
        self.ffn = _FFN(arch.embed_dim, arch.ffn_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln1(x))
        return x + self.ffn(self.ln2(x))


class SapiensBackbone(nn.Module):
    """ViT returning the last feature map [B, D, H/16, W/16]."""

    def __init__(self, arch: SapiensArch, image_hw=(1024, 768), patch: int = 16, patch_padding: int = 2):
        super().__init__()
        self.patch_embed = _PatchEmbed(arch.embed_dim, patch, patch_padding)
        gh = (image_hw[0] + 2 * patch_padding - patch) // patch + 1
        gw = (image_hw[1] + 2 * patch_padding - patch) // patch + 1
        self.grid = (gh, gw)
        self.pos_embed = nn.Parameter(torch.zeros(1, gh * gw, arch.embed_dim))
        self.layers = nn.ModuleList(_Block(arch) for _ in range(arch.num_layers))
        self.ln1 = nn.LayerNorm(arch.embed_dim, eps=1e-6)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.patch_embed(x)
        b, d, h, w = x.shape
        x = x.flatten(2).transpose(1, 2) + self._pos_embed(h, w)
        for layer in self.layers:
            x = layer(x)
        return self.ln1(x).transpose(1, 2).reshape(b, d, h, w)

    def _pos_embed(self, h: int, w: int) -> torch.Tensor:
        if (h, w) == self.grid:
            return self.pos_embed
        grid = self.pos_embed.reshape(1, *self.grid, -1).permute(0, 3, 1, 2)
        grid = F.interpolate(grid, size=(h, w), mode="bicubic", align_corners=False)
        return grid.flatten(2).transpose(1, 2)


def _upsampling(in_ch: int, deconv: tuple[int, ...], conv: tuple[int, ...]) -> tuple[nn.Sequential, nn.Sequential, int]:
    layers: list[nn.Module] = []
    for out in deconv:
        layers += [nn.ConvTranspose2d(in_ch, out, 4, stride=2, padding=1, bias=False), nn.InstanceNorm2d(out), nn.SiLU()]
        in_ch = out
    convs: list[nn.Module] = []
    for out in conv:
        convs += [nn.Conv2d(in_ch, out, 1), nn.InstanceNorm2d(out), nn.SiLU()]
        in_ch = out
    return nn.Sequential(*layers), nn.Sequential(*convs), in_ch


class HeatmapHead(nn.Module):
    """Feature map -> K heatmaps at 4x the feature resolution (1/4 of the input)."""

    def __init__(self, in_ch: int, num_keypoints: int, deconv=(768, 768), conv=(768, 768)):
        super().__init__()
        self.deconv_layers, self.conv_layers, ch = _upsampling(in_ch, tuple(deconv), tuple(conv))
        self.final_layer = nn.Conv2d(ch, num_keypoints, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.final_layer(self.conv_layers(self.deconv_layers(x)))


class DepthHead(nn.Module):
    """Feature map -> one relative-depth channel at 16x the feature resolution (the input size)."""

    def __init__(self, in_ch: int, deconv=(384, 384, 384, 384), conv=(384, 384)):
        super().__init__()
        self.deconv_layers, self.conv_layers, ch = _upsampling(in_ch, tuple(deconv), tuple(conv))
        self.conv_seg = nn.Conv2d(ch, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv_seg(self.conv_layers(self.deconv_layers(x)))


class SapiensPose(nn.Module):
    def __init__(self, backbone: SapiensBackbone, head: HeatmapHead):
        super().__init__()
        self.backbone, self.head = backbone, head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(x))


class SapiensDepth(nn.Module):
    def __init__(self, backbone: SapiensBackbone, decode_head: DepthHead):
        super().__init__()
        self.backbone, self.decode_head = backbone, decode_head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode_head(self.backbone(x))


def build_sapiens(task: str, arch: SapiensArch, image_hw=(1024, 768), num_keypoints: int = 308,
                  head_deconv=None, head_conv=None) -> nn.Module:
    """A Sapiens pose or depth model with the official head widths unless given."""
    if task == "pose":
        backbone = SapiensBackbone(arch, image_hw, patch_padding=2)
        return SapiensPose(backbone, HeatmapHead(arch.embed_dim, num_keypoints, head_deconv or (768, 768), head_conv or (768, 768)))
    if task == "depth":
        backbone = SapiensBackbone(arch, image_hw, patch_padding=0)
        return SapiensDepth(backbone, DepthHead(arch.embed_dim, head_deconv or (384,) * 4, head_conv or (384, 384)))
    raise ValueError(f"unknown Sapiens task {task!r}; expected 'pose' or 'depth'")
