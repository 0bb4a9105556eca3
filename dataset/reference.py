"""The reference character image: the character of one frame, centre-cropped onto a random background.

Animate Anyone 2 trains on its own videos, so the reference must not carry the source frame's
surroundings: the character is cut out by its mask, centred in a window of the output's aspect
ratio and composited on a random background. The image encoder sees a square 224 x 224 view of
the same picture (normalised with CLIP's statistics when a batch is unpacked).
"""

from __future__ import annotations

import cv2
import numpy as np

from .crop import mask_box

CLIP_SIZE = 224
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


def random_background(hw: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """A flat colour or a smooth colour field (a 2x2 to 6x6 grid of colours upsampled), uint8 [H, W, 3]."""
    if rng.random() < 0.5:
        return np.broadcast_to(rng.integers(0, 256, 3, dtype=np.uint8), (*hw, 3)).copy()
    g = int(rng.integers(2, 7))
    grid = rng.integers(0, 256, (g, g, 3), dtype=np.uint8)
    return cv2.resize(grid, hw[::-1], interpolation=cv2.INTER_CUBIC)


def reference_window(mask: np.ndarray, out_hw: tuple[int, int], margin: float = 0.1) -> tuple[float, float, float]:
    """(centre x, centre y, height) of a window of the output's aspect around the character.

    The window may run past the frame: what lies outside becomes background.
    """
    h, w = mask.shape
    box = mask_box(mask) or (0, 0, w, h)
    x0, y0, x1, y1 = box
    aspect = out_hw[1] / out_hw[0]
    height = max((y1 - y0) * (1 + margin), (x1 - x0) * (1 + margin) / aspect, 1.0)
    return (x0 + x1 - 1) / 2, (y0 + y1 - 1) / 2, height  # pixel-centre convention


def reference_image(frame: np.ndarray, mask: np.ndarray, out_hw: tuple[int, int], rng: np.random.Generator,
                    margin: float = 0.1) -> np.ndarray:
    """uint8 [H, W, 3] frame + bool [H, W] character mask -> uint8 [out_h, out_w, 3]."""
    cx, cy, height = reference_window(mask, out_hw, margin)
    s = out_hw[0] / height
    # Maps the window centre to the output centre (pixel-centre convention).
    m = np.array([[s, 0, (out_hw[1] - 1) / 2 - s * cx], [0, s, (out_hw[0] - 1) / 2 - s * cy]], np.float64)
    size = (out_hw[1], out_hw[0])
    pixels = cv2.warpAffine(frame, m, size, flags=cv2.INTER_LINEAR)
    alpha = cv2.warpAffine(mask.astype(np.float32), m, size, flags=cv2.INTER_LINEAR)[..., None]
    background = random_background(out_hw, rng).astype(np.float32)
    return np.clip(alpha * pixels + (1 - alpha) * background + 0.5, 0, 255).astype(np.uint8)


def clip_view(image: np.ndarray, size: int = CLIP_SIZE) -> np.ndarray:
    """The image encoder's input before normalisation: centre square of the reference, resized."""
    h, w = image.shape[:2]
    side = min(h, w)
    y0, x0 = (h - side) // 2, (w - side) // 2
    square = image[y0 : y0 + side, x0 : x0 + side]
    interp = cv2.INTER_AREA if side > size else cv2.INTER_CUBIC
    return cv2.resize(square, (size, size), interpolation=interp)
