"""Structured depth (Animate Anyone 2, "Depth-wise pose modulation"): depth kept only on the skeleton.

The skeleton image is binarised into a mask and the depth map is kept inside it, zero elsewhere,
so the pose guider learns which limb is in front without seeing the body's shape. Values are
normalised per sample (one range over all its frames, so depth does not flicker), nearest = 1,
farthest on the skeleton = ``far_value``; 0 means "no skeleton here" or "depth unknown". The
range is taken between robust percentiles, because a skeleton line a pixel wider than a thin
limb picks up the wall behind it, and one such pixel would squash the body's own depth range.
"""

from __future__ import annotations

import numpy as np


def skeleton_mask(skeleton: np.ndarray, threshold: int = 0) -> np.ndarray:
    """uint8 [..., H, W, 3] skeleton images -> bool [..., H, W]: any channel above ``threshold``."""
    skeleton = np.asarray(skeleton)
    if threshold == 0:  # channel OR beats a strided reduction over the last axis
        return (skeleton[..., 0] | skeleton[..., 1] | skeleton[..., 2]) > 0
    return (skeleton > threshold).any(axis=-1)


def structured_depth(depth: np.ndarray, skeleton: np.ndarray, far_value: float = 0.1,
                     percentiles: tuple[float, float] = (2.0, 90.0)) -> np.ndarray:
    """depth float [T, H, W] (larger = farther, NaN unknown) + skeleton uint8 [T, H, W, 3]
    -> float32 [T, H, W] in [0, 1]."""
    if not 0 < far_value <= 1:
        raise ValueError(f"far_value must be in (0, 1], got {far_value}")
    depth = np.asarray(depth, np.float32)
    keep = skeleton_mask(skeleton) & np.isfinite(depth)
    out = np.zeros(depth.shape, np.float32)
    if not keep.any():
        return out
    values = depth[keep]
    lo, hi = (float(v) for v in np.percentile(values, percentiles))
    near01 = np.clip((hi - values) / (hi - lo), 0, 1) if hi > lo else np.ones_like(values)
    out[keep] = far_value + (1 - far_value) * near01
    return out
