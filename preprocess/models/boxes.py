"""Pure box maths shared by the localise, segment and pose backends.

Boxes are ``(x1, y1, x2, y2)`` in pixels of some frame whose size is given as ``(height, width)``.
Pixel coordinates are continuous: the frame spans ``[0, width] x [0, height]``.
"""

from __future__ import annotations

import math

import numpy as np

Box = tuple[float, float, float, float]


def validate_box(box, size: tuple[int, int], min_side: float = 2.0) -> Box | None:
    """Swap reversed corners, clip to the frame, and drop a box that is degenerate or not finite."""
    try:
        x1, y1, x2, y2 = (float(v) for v in box)
    except (TypeError, ValueError):
        return None
    if not all(math.isfinite(v) for v in (x1, y1, x2, y2)):
        return None
    h, w = size
    x1, x2 = sorted((min(max(x1, 0.0), w), min(max(x2, 0.0), w)))
    y1, y2 = sorted((min(max(y1, 0.0), h), min(max(y2, 0.0), h)))
    if x2 - x1 < min_side or y2 - y1 < min_side:
        return None
    return (x1, y1, x2, y2)


def rescale_box(box: Box, src_size: tuple[int, int], dst_size: tuple[int, int]) -> Box:
    """Map a box from a frame of ``src_size`` to the same content resized to ``dst_size``."""
    sy, sx = dst_size[0] / src_size[0], dst_size[1] / src_size[1]
    x1, y1, x2, y2 = box
    return (x1 * sx, y1 * sy, x2 * sx, y2 * sy)


def relative_to_pixels(box, size: tuple[int, int], scale: float) -> Box:
    """Coordinates on a ``0..scale`` grid (Qwen3-VL: 1000) to pixels of a frame of ``size``."""
    h, w = size
    x1, y1, x2, y2 = (float(v) for v in box)
    return (x1 / scale * w, y1 / scale * h, x2 / scale * w, y2 / scale * h)


def bins_to_pixels(box, size: tuple[int, int], num_bins: int) -> Box:
    """Quantised location bins (Florence-2: 1000 bins) to pixels; a bin stands for its centre."""
    h, w = size
    x1, y1, x2, y2 = (float(v) for v in box)
    return ((x1 + 0.5) * w / num_bins, (y1 + 0.5) * h / num_bins, (x2 + 0.5) * w / num_bins, (y2 + 0.5) * h / num_bins)


def mask_to_box(mask: np.ndarray) -> Box | None:
    """Tight box around the true pixels of a 2-D mask (pixel edges), or None for an empty mask."""
    ys = np.flatnonzero(mask.any(axis=1))
    xs = np.flatnonzero(mask.any(axis=0))
    if ys.size == 0:
        return None
    return (float(xs[0]), float(ys[0]), float(xs[-1] + 1), float(ys[-1] + 1))


def box_iou(a: Box, b: Box) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def mask_track_boxes(masks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame boxes [T, 4] of a mask track [T, H, W] and which frames had any pixel [T].

    Frames with an empty mask borrow the box of the nearest frame that has one, so a top-down
    model still gets a sensible crop; callers use the second array to zero their scores.
    """
    present = masks.reshape(len(masks), -1).any(axis=1)
    boxes = np.zeros((len(masks), 4), np.float32)
    idx = np.flatnonzero(present)
    if idx.size == 0:
        return boxes, present
    for t in idx:
        boxes[t] = mask_to_box(masks[t])
    nearest = idx[np.abs(np.arange(len(masks))[:, None] - idx[None, :]).argmin(axis=1)]
    return boxes[nearest], present


def touches(person: Box, obj: Box, margin: float = 0.1, min_inside: float = 0.3) -> bool:
    """Whether at least ``min_inside`` of ``obj``'s area lies in the person box grown by ``margin``
    of its size on every side: a detector's stand-in for "held, carried or touched"."""
    mx, my = (person[2] - person[0]) * margin, (person[3] - person[1]) * margin
    grown = (person[0] - mx, person[1] - my, person[2] + mx, person[3] + my)
    ix = max(0.0, min(grown[2], obj[2]) - max(grown[0], obj[0]))
    iy = max(0.0, min(grown[3], obj[3]) - max(grown[1], obj[1]))
    area = (obj[2] - obj[0]) * (obj[3] - obj[1])
    return area > 0 and ix * iy / area >= min_inside
