"""Random scale augmentation (Animate Anyone 2, "Environment formulation").

The shape-agnostic mask is larger than the character, so a model would learn that the character
always sits inside its mask. Here the character and the objects it interacts with are cut out by
their masks, scaled about an anchor and pasted back over the frame with the cut region
inpainted. The mask Mf is built from the character *before* scaling, so after an enlargement
the character pokes out of it. Masks, keypoints and depth are moved by the same map as the
pixels: ``x' = anchor + s * (x - anchor)`` in pixel-centre coordinates.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .crop import mask_box


@dataclass
class Layers:
    """A clip's pixels and annotations at one resolution (T frames, K objects, J joints)."""

    frames: np.ndarray  # uint8 [T, H, W, 3]
    character: np.ndarray  # bool [T, H, W]
    objects: np.ndarray  # bool [T, K, H, W]
    keypoints: np.ndarray  # float32 [T, J, 3]
    depth: np.ndarray  # float32 [T, H, W], NaN unknown


def scale_matrix(scale: float, anchor: tuple[float, float]) -> np.ndarray:
    """2x3 affine map for cv2.warpAffine (which maps pixel centres, matching the keypoints)."""
    ax, ay = anchor
    return np.array([[scale, 0.0, ax * (1 - scale)], [0.0, scale, ay * (1 - scale)]], np.float64)


def scale_keypoints(keypoints: np.ndarray, scale: float, anchor: tuple[float, float]) -> np.ndarray:
    out = np.array(keypoints, np.float32, copy=True)
    out[..., 0] = anchor[0] + scale * (out[..., 0] - anchor[0])
    out[..., 1] = anchor[1] + scale * (out[..., 1] - anchor[1])
    return out


def anchor_point(character: np.ndarray) -> tuple[float, float]:
    """Bottom centre of the character's box over the clip: feet keep touching the ground."""
    box = mask_box(character)
    if box is None:
        h, w = character.shape[-2:]
        return (w - 1) / 2, h - 1
    x0, _, x1, y1 = box
    return (x0 + x1 - 1) / 2, y1 - 1


def _warp(image: np.ndarray, m: np.ndarray, interp: int) -> np.ndarray:
    h, w = image.shape[:2]
    return cv2.warpAffine(image, m, (w, h), flags=interp, borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def _warp_masks(masks: np.ndarray, m: np.ndarray) -> np.ndarray:
    """bool [..., H, W] warped with nearest neighbour, one 2-D mask at a time."""
    lead, (h, w) = masks.shape[:-2], masks.shape[-2:]
    flat = masks.reshape(-1, h, w).view(np.uint8)
    out = np.empty((len(flat), h, w), np.uint8)
    for i, mask in enumerate(flat):
        out[i] = _warp(mask, m, cv2.INTER_NEAREST)
    return out.view(bool).reshape(*lead, h, w)


def inpaint(frame: np.ndarray, hole: np.ndarray, work_size: int = 128) -> np.ndarray:
    """Fill ``hole`` from its surroundings (OpenCV Telea) at low resolution, then paste the fill.

    The fill only has to be plausible background: it ends up under the shape-agnostic mask or
    next to a scaled character, so a small working size keeps it cheap.
    """
    if not hole.any():
        return frame
    h, w = hole.shape
    f = work_size / max(h, w)
    size = (max(1, round(w * f)), max(1, round(h * f)))
    small = cv2.resize(frame, size, interpolation=cv2.INTER_AREA)
    small_hole = cv2.resize(hole.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST)
    small_hole = cv2.dilate(small_hole, np.ones((3, 3), np.uint8))
    filled = cv2.inpaint(small, small_hole, 3, cv2.INPAINT_TELEA)
    big = cv2.resize(filled, (w, h), interpolation=cv2.INTER_LINEAR)
    out = frame.copy()
    cv2.copyTo(big, hole.view(np.uint8), out)  # in place, and far faster than boolean indexing
    return out


def scale_layers(layers: Layers, scale: float, anchor: tuple[float, float]) -> Layers:
    """Cut character + objects out, scale them about ``anchor``, paste over the inpainted frame."""
    m = scale_matrix(scale, anchor)
    cut = layers.character | layers.objects.any(axis=1)
    moved_cut = _warp_masks(cut, m)
    frames = np.empty_like(layers.frames)
    depth = np.empty(layers.depth.shape, np.float32)
    kernel = np.ones((5, 5), np.uint8)
    unknown = np.full(layers.depth.shape[1:], np.nan, np.float32)
    for t in range(len(frames)):
        hole = cv2.dilate(cut[t].view(np.uint8), kernel)
        moved = moved_cut[t].view(np.uint8)
        frames[t] = inpaint(layers.frames[t], hole.view(bool))
        cv2.copyTo(_warp(layers.frames[t], m, cv2.INTER_LINEAR), moved, frames[t])
        # Behind the old character the depth is unknown, not the character's.
        depth[t] = layers.depth[t]
        cv2.copyTo(unknown, hole, depth[t])
        cv2.copyTo(_warp(layers.depth[t], m, cv2.INTER_NEAREST), moved, depth[t])  # nearest keeps NaN
    return Layers(
        frames=frames,
        character=_warp_masks(layers.character, m),
        objects=_warp_masks(layers.objects, m),
        keypoints=scale_keypoints(layers.keypoints, scale, anchor),
        depth=depth,
    )
