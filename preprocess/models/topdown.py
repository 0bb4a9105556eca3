"""Top-down crop geometry and heatmap decoding, in torch so that it runs batched on the device.

Conventions (those of mmpose's UDP codec, which Sapiens was trained with): a point is in pixel
index coordinates (pixel ``i`` is centred on ``i``). A crop is ``(cx, cy, w, h)`` in frame pixels;
crop pixel ``u`` of an ``n``-pixel-wide crop image sits at ``cx - w/2 + u * w / (n - 1)``, so the
crop's first and last pixel centres land on its edges. A heatmap of any size maps onto the same
crop the same way, which makes crop, heatmap and frame coordinates exact inverses of each other.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

SAPIENS_MEAN = (123.675, 116.28, 103.53)
SAPIENS_STD = (58.395, 57.12, 57.375)


def topdown_crops(boxes: torch.Tensor, aspect: float = 0.75, padding: float = 1.25) -> torch.Tensor:
    """Person boxes [N, 4] (x1, y1, x2, y2) -> crops [N, 4] (cx, cy, w, h) padded, with w / h = aspect."""
    centre = (boxes[:, :2] + boxes[:, 2:]) / 2
    wh = (boxes[:, 2:] - boxes[:, :2]).clamp(min=1.0) * padding
    w, h = wh[:, 0], wh[:, 1]
    wide = w > h * aspect
    w, h = torch.where(wide, w, h * aspect), torch.where(wide, w / aspect, h)
    return torch.stack([centre[:, 0], centre[:, 1], w, h], dim=1)


def crop_to_frame(points: torch.Tensor, crops: torch.Tensor, grid_hw: tuple[int, int]) -> torch.Tensor:
    """Points [N, K, 2] in pixels of a ``grid_hw`` image of each crop -> frame pixels."""
    gh, gw = grid_hw
    origin = (crops[:, :2] - crops[:, 2:] / 2)[:, None]
    step = torch.stack([crops[:, 2] / (gw - 1), crops[:, 3] / (gh - 1)], dim=1)[:, None]
    return origin + points * step


def frame_to_crop(points: torch.Tensor, crops: torch.Tensor, grid_hw: tuple[int, int]) -> torch.Tensor:
    """Inverse of :func:`crop_to_frame`."""
    gh, gw = grid_hw
    origin = (crops[:, :2] - crops[:, 2:] / 2)[:, None]
    step = torch.stack([crops[:, 2] / (gw - 1), crops[:, 3] / (gh - 1)], dim=1)[:, None]
    return (points - origin) / step


def crop_sampling_grid(crops: torch.Tensor, out_hw: tuple[int, int], frame_hw: tuple[int, int]) -> torch.Tensor:
    """``grid_sample`` grid [N, oh, ow, 2] (align_corners=True) that cuts each crop out of its frame."""
    oh, ow = out_hw
    fh, fw = frame_hw
    ys = torch.arange(oh, device=crops.device, dtype=crops.dtype)
    xs = torch.arange(ow, device=crops.device, dtype=crops.dtype)
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    pts = torch.stack([gx, gy], dim=-1).reshape(1, -1, 2).expand(crops.shape[0], -1, -1)
    frame_pts = crop_to_frame(pts, crops, out_hw)
    norm = torch.tensor([2.0 / max(fw - 1, 1), 2.0 / max(fh - 1, 1)], device=crops.device, dtype=crops.dtype)
    return (frame_pts * norm - 1).reshape(-1, oh, ow, 2)


def cut_crops(frames: torch.Tensor, crops: torch.Tensor, out_hw: tuple[int, int]) -> torch.Tensor:
    """Frames [N, 3, H, W] float -> crops [N, 3, oh, ow], bilinear, zeros outside the frame."""
    grid = crop_sampling_grid(crops.float(), out_hw, tuple(frames.shape[-2:])).to(frames.dtype)
    return F.grid_sample(frames, grid, mode="bilinear", padding_mode="zeros", align_corners=True)


def paste_crops(values: torch.Tensor, crops: torch.Tensor, frame_hw: tuple[int, int]) -> torch.Tensor:
    """Crop-aligned maps [N, C, ch, cw] -> frame-aligned [N, C, H, W]; NaN where no crop covers."""
    n, _, ch, cw = values.shape
    fh, fw = frame_hw
    ys = torch.arange(fh, device=values.device, dtype=torch.float32)
    xs = torch.arange(fw, device=values.device, dtype=torch.float32)
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    pts = torch.stack([gx, gy], dim=-1).reshape(1, -1, 2).expand(n, -1, -1)
    local = frame_to_crop(pts, crops.float(), (ch, cw))
    norm = torch.tensor([2.0 / (cw - 1), 2.0 / (ch - 1)], device=values.device)
    grid = (local * norm - 1).reshape(n, fh, fw, 2)
    out = F.grid_sample(values.float(), grid, mode="bilinear", padding_mode="zeros", align_corners=True)
    inside = (grid.abs() <= 1).all(dim=-1, keepdim=True).permute(0, 3, 1, 2)
    return torch.where(inside, out, torch.full_like(out, float("nan")))


def normalise(images: torch.Tensor, mean=SAPIENS_MEAN, std=SAPIENS_STD) -> torch.Tensor:
    """RGB images [N, 3, H, W] in 0..255 -> model input."""
    m = torch.tensor(mean, device=images.device, dtype=images.dtype).view(1, 3, 1, 1)
    s = torch.tensor(std, device=images.device, dtype=images.dtype).view(1, 3, 1, 1)
    return (images - m) / s


def decode_heatmaps(heatmaps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Heatmaps [N, K, h, w] -> (xy [N, K, 2] in heatmap pixels, score [N, K] in [0, 1]).

    Argmax, then a sub-pixel step per axis from a parabola through the log-heatmap at the peak
    and its two neighbours (exact for a Gaussian peak), clamped to half a pixel.
    """
    n, k, h, w = heatmaps.shape
    hm = heatmaps.float()
    score, idx = hm.reshape(n, k, -1).max(dim=-1)
    iy, ix = torch.div(idx, w, rounding_mode="floor"), idx % w
    logs = hm.clamp(min=1e-10).log()
    padded = F.pad(logs.reshape(n * k, 1, h, w), (1, 1, 1, 1), mode="replicate").reshape(n, k, h + 2, w + 2)

    def at(dy: int, dx: int) -> torch.Tensor:
        flat = (iy + 1 + dy) * (w + 2) + (ix + 1 + dx)
        return padded.reshape(n, k, -1).gather(-1, flat.unsqueeze(-1)).squeeze(-1)

    centre = at(0, 0)
    offsets = []
    for (lo, hi), i, size in (((at(0, -1), at(0, 1)), ix, w), ((at(-1, 0), at(1, 0)), iy, h)):
        curv = 2 * centre - lo - hi
        interior = (curv > 1e-6) & (i > 0) & (i < size - 1)  # a border peak has one neighbour: no fit
        step = torch.where(interior, 0.5 * (hi - lo) / curv.clamp(min=1e-6), torch.zeros_like(curv))
        offsets.append(step.clamp(-0.5, 0.5))
    xy = torch.stack([ix.float() + offsets[0], iy.float() + offsets[1]], dim=-1)
    return xy, score.clamp(0.0, 1.0)
