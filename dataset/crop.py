"""One crop + resize, chosen once per sample and applied identically to every condition.

Coordinates: a keypoint at ``(x, y)`` sits on the centre of pixel column ``x``, row ``y``; a crop
window ``(x0, y0, x1, y1)`` covers integer pixels ``x0 <= x < x1``. Resizing a window of width
``w`` to ``W`` maps a pixel centre ``x`` to ``(x - x0 + 0.5) * W / w - 0.5``, which is what
``cv2.resize`` does to pixel centres, so keypoints stay on the pixels they were on.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class Window:
    x0: int
    y0: int
    x1: int
    y1: int

    @property
    def width(self) -> int:
        return self.x1 - self.x0

    @property
    def height(self) -> int:
        return self.y1 - self.y0


def mask_box(masks: np.ndarray) -> tuple[int, int, int, int] | None:
    """Union bounding box ``(x0, y0, x1, y1)`` (x1, y1 exclusive) of a mask [..., H, W]; None if empty."""
    masks = np.asarray(masks, bool)
    union = masks.reshape(-1, *masks.shape[-2:]).any(axis=0) if masks.ndim > 2 else masks
    x, y, w, h = cv2.boundingRect(np.ascontiguousarray(union).view(np.uint8))  # SIMD, unlike np.any per axis
    if w == 0:
        return None
    return x, y, x + w, y + h


def choose_window(frame_hw: tuple[int, int], out_hw: tuple[int, int], box, rng: np.random.Generator | None,
                  zoom_range: tuple[float, float] = (1.0, 1.0), margin: float = 0.1, jitter: float = 0.0) -> Window:
    """A window of the output's aspect ratio, inside the frame, holding the character box if it can.

    Its height is the largest that fits, times a zoom drawn from ``zoom_range`` (but never smaller
    than the box plus ``margin``); it is centred on the box (shifted by up to ``jitter`` of the
    free room when ``rng`` is given) and then moved inside the frame.
    """
    fh, fw = frame_hw
    aspect = out_hw[1] / out_hw[0]
    h_max = min(fh, fw / aspect)
    zoom = rng.uniform(*zoom_range) if rng is not None else max(zoom_range)
    if box is None:
        box = (0, 0, fw, fh)
    bx0, by0, bx1, by1 = box
    need = max((by1 - by0) * (1 + margin), (bx1 - bx0) * (1 + margin) / aspect)
    h = min(h_max, max(h_max * zoom, need))
    h, w = max(1, int(round(h))), max(1, int(round(h * aspect)))
    h, w = min(h, fh), min(w, fw)
    cx, cy = (bx0 + bx1) / 2, (by0 + by1) / 2
    if rng is not None and jitter > 0:
        cx += rng.uniform(-1, 1) * jitter * max(0.0, w - (bx1 - bx0)) / 2
        cy += rng.uniform(-1, 1) * jitter * max(0.0, h - (by1 - by0)) / 2
    x0 = int(np.clip(round(cx - w / 2), 0, fw - w))
    y0 = int(np.clip(round(cy - h / 2), 0, fh - h))
    return Window(x0, y0, x0 + w, y0 + h)


def crop_images(images: np.ndarray, win: Window, out_hw: tuple[int, int]) -> np.ndarray:
    """[T, H, W, C] uint8 -> [T, out_h, out_w, C]; area filter when shrinking, linear when enlarging."""
    shrink = win.height > out_hw[0]
    interp = cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
    out = [cv2.resize(im[win.y0 : win.y1, win.x0 : win.x1], out_hw[::-1], interpolation=interp) for im in images]
    return np.stack(out).reshape(len(images), *out_hw, images.shape[-1])


def crop_nearest(arrays: np.ndarray, win: Window, out_hw: tuple[int, int], frame_hw=None) -> np.ndarray:
    """[..., H, W] masks or depth -> [..., out_h, out_w], nearest neighbour (keeps NaN and 0/1 exact).

    ``frame_hw`` is the frame size when ``arrays`` has another resolution (depth stored smaller):
    the window is scaled into the array's own pixel grid.
    """
    lead, (ah, aw) = arrays.shape[:-2], arrays.shape[-2:]
    fh, fw = frame_hw or (ah, aw)
    oh, ow = out_hw
    # Source pixel for each output pixel centre, through frame coordinates.
    xs = ((np.arange(ow) + 0.5) * win.width / ow + win.x0) * aw / fw
    ys = ((np.arange(oh) + 0.5) * win.height / oh + win.y0) * ah / fh
    xi = np.clip(np.floor(xs).astype(np.int64), 0, aw - 1)
    yi = np.clip(np.floor(ys).astype(np.int64), 0, ah - 1)
    flat = arrays.reshape(-1, ah, aw)
    return flat[:, yi[:, None], xi[None, :]].reshape(*lead, oh, ow)


def crop_keypoints(keypoints: np.ndarray, win: Window, out_hw: tuple[int, int]) -> np.ndarray:
    """[..., J, 3] (x, y, score) into the resized window; scores unchanged."""
    out = np.array(keypoints, dtype=np.float32, copy=True)
    out[..., 0] = (out[..., 0] - win.x0 + 0.5) * out_hw[1] / win.width - 0.5
    out[..., 1] = (out[..., 1] - win.y0 + 0.5) * out_hw[0] / win.height - 0.5
    return out
