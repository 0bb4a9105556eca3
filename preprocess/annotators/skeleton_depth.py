"""Depth from a 3D skeleton: each pixel of the person takes the depth of the nearest bone point.

For light backends whose pose model gives per-landmark depth (MediaPipe's ``z``) but no depth
map: the bones are sampled densely, depth interpolated linearly along each bone, and every pixel
of the person mask gets the depth of its nearest sample (a Voronoi fill). Outside the mask, or
where no bone is confident enough, depth is NaN ("unknown").
"""

from __future__ import annotations

import cv2
import numpy as np


def bone_samples(points: np.ndarray, limbs, min_score: float, step: float = 2.0) -> np.ndarray:
    """[N, 3] (x, y, depth) samples along every limb whose two joints score >= min_score."""
    out = []
    for a, b in limbs:
        pa, pb = points[a], points[b]
        if pa[3] < min_score or pb[3] < min_score:
            continue
        n = max(2, int(np.hypot(*(pb[:2] - pa[:2])) / step) + 1)
        t = np.linspace(0.0, 1.0, n)[:, None]
        out.append(pa[None, :3] * (1 - t) + pb[None, :3] * t)
    return np.concatenate(out) if out else np.zeros((0, 3), np.float32)


def skeleton_depth(points: np.ndarray, mask: np.ndarray, limbs, min_score: float = 0.3) -> np.ndarray:
    """points [J, 4] (x, y, depth, score) in pixels; mask bool [H, W] -> float32 [H, W], NaN off-mask."""
    h, w = mask.shape
    depth = np.full((h, w), np.nan, np.float32)
    samples = bone_samples(np.asarray(points, np.float32), limbs, min_score)
    xs = np.clip(np.rint(samples[:, 0]), 0, w - 1).astype(np.int64)
    ys = np.clip(np.rint(samples[:, 1]), 0, h - 1).astype(np.int64)
    if len(samples) == 0 or not mask.any():
        return depth
    seeds = np.full((h, w), 255, np.uint8)
    seeds[ys, xs] = 0
    seed_depth = np.zeros((h, w), np.float32)
    seed_depth[ys, xs] = samples[:, 2]
    _, labels = cv2.distanceTransformWithLabels(seeds, cv2.DIST_L2, 5, labelType=cv2.DIST_LABEL_PIXEL)
    by_label = np.concatenate([[np.nan], seed_depth[seeds == 0]]).astype(np.float32)  # labels count seeds in raster order from 1
    depth[mask] = by_label[labels[mask]]
    return depth
