"""Skeleton images from keypoints: one renderer for every keypoint format.

Keypoints are mapped onto the common BODY-18 layout (:mod:`dataset.skeleton_layout`), joints whose
score is below ``min_score`` (or not finite) are skipped with the limbs that use them, and limbs
are drawn as anti-aliased lines with a joint dot at each end, on black. Line width scales with
the image so the skeleton looks the same at every training resolution.
"""

from __future__ import annotations

import cv2
import numpy as np

from .keypoint_formats import OPENPOSE_18
from .skeleton_layout import LIMB_COLOURS, layout_for


def line_width(hw: tuple[int, int]) -> int:
    return max(1, round(min(hw) / 128))


def body_points(keypoints: np.ndarray, format_name: str, min_score: float) -> np.ndarray:
    """[J, 3] in the format's order -> [18, 3] BODY-18 (x, y, score); missing joints score 0."""
    out = np.zeros((OPENPOSE_18.num_joints, 3), np.float32)
    for i, src in enumerate(layout_for(format_name).sources):
        if not src:
            continue
        pts = keypoints[list(src)]
        score = float(pts[:, 2].min())
        if score >= min_score and np.isfinite(pts).all():
            out[i] = (*pts[:, :2].mean(axis=0), score)
    return out


def _visible(point: np.ndarray, min_score: float) -> bool:
    return bool(np.isfinite(point).all() and point[2] >= min_score and point[2] > 0)


def _draw_limb(canvas: np.ndarray, a: np.ndarray, b: np.ndarray, colour, width: int) -> None:
    pa = (int(round(float(a[0]) * 16)), int(round(float(a[1]) * 16)))
    pb = (int(round(float(b[0]) * 16)), int(round(float(b[1]) * 16)))
    # shift=4: sub-pixel endpoints (coordinates in 1/16 pixel).
    cv2.line(canvas, pa, pb, colour, width, cv2.LINE_AA, shift=4)
    for p in (pa, pb):
        cv2.circle(canvas, p, max(1, width) * 16, colour, -1, cv2.LINE_AA, shift=4)


def render_skeleton(keypoints: np.ndarray, format_name: str, hw: tuple[int, int], min_score: float = 0.3,
                    width: int | None = None) -> np.ndarray:
    """One frame: keypoints [J, 3] (x, y, score) -> uint8 RGB [H, W, 3]."""
    keypoints = np.asarray(keypoints, np.float32)
    width = width or line_width(hw)
    canvas = np.zeros((*hw, 3), np.uint8)
    for a, b, colour in layout_for(format_name).extras:
        if _visible(keypoints[a], min_score) and _visible(keypoints[b], min_score):
            _draw_limb(canvas, keypoints[a], keypoints[b], colour, max(1, width // 2))
    body = body_points(keypoints, format_name, min_score)
    for (a, b), colour in zip(OPENPOSE_18.limbs, LIMB_COLOURS):
        if _visible(body[a], min_score) and _visible(body[b], min_score):
            _draw_limb(canvas, body[a], body[b], colour, width)
    return canvas


def render_skeletons(keypoints: np.ndarray, format_name: str, hw: tuple[int, int],
                     min_score: float = 0.3) -> np.ndarray:
    """Every frame: [T, J, 3] -> uint8 [T, H, W, 3]."""
    return np.stack([render_skeleton(k, format_name, hw, min_score) for k in keypoints])
