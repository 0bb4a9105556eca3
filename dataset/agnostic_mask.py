"""The shape-agnostic mask Mf (Animate Anyone 2, "Environment formulation").

The character mask Mc's bounding box (h x w) is split into k_h x k_w non-overlapping blocks; each
block takes the max of Mc inside it, so a block the character touches becomes all 1. Mf therefore
always covers Mc, k_h = k_w = 1 gives the bounding box and one block per pixel gives Mc itself.
Training draws k_h, k_w at random; inference uses k_h = h/10, k_w = w/10 as the paper writes.
"""

from __future__ import annotations

import numpy as np

from .crop import mask_box


def _edges(size: int, k: int) -> np.ndarray:
    # k <= size keeps edges strictly increasing, which np.maximum.reduceat needs.
    return (np.arange(k + 1) * size) // k


def shape_agnostic_mask(mask: np.ndarray, k_h: int, k_w: int) -> np.ndarray:
    """Mf for one frame: bool [H, W] -> bool [H, W]; an empty mask gives an empty Mf."""
    if k_h < 1 or k_w < 1:
        raise ValueError(f"block counts must be >= 1, got k_h={k_h}, k_w={k_w}")
    mask = np.asarray(mask, bool)
    out = np.zeros_like(mask)
    box = mask_box(mask)
    if box is None:
        return out
    x0, y0, x1, y1 = box
    h, w = y1 - y0, x1 - x0
    ey, ex = _edges(h, min(k_h, h)), _edges(w, min(k_w, w))
    inside = mask[y0:y1, x0:x1].view(np.uint8)
    blocks = np.maximum.reduceat(np.maximum.reduceat(inside, ey[:-1], axis=0), ex[:-1], axis=1)
    out[y0:y1, x0:x1] = np.repeat(np.repeat(blocks, np.diff(ey), axis=0), np.diff(ex), axis=1).astype(bool)
    return out


def inference_block_counts(mask: np.ndarray) -> tuple[int, int]:
    """k_h = h/10, k_w = w/10 (at least 1) for the character box of one frame."""
    box = mask_box(mask)
    if box is None:
        return 1, 1
    x0, y0, x1, y1 = box
    return max(1, round((y1 - y0) / 10)), max(1, round((x1 - x0) / 10))


def shape_agnostic_masks(masks: np.ndarray, rng: np.random.Generator | None, max_blocks: int = 32) -> np.ndarray:
    """Mf for every frame [T, H, W]: one random (k_h, k_w) for the whole clip when ``rng`` is given
    (so the mask does not flicker), the inference rule per frame when it is None."""
    masks = np.asarray(masks, bool)
    if rng is not None:
        k_h, k_w = (int(k) for k in rng.integers(1, max_blocks + 1, size=2))
        return np.stack([shape_agnostic_mask(m, k_h, k_w) for m in masks])
    return np.stack([shape_agnostic_mask(m, *inference_block_counts(m)) for m in masks])
