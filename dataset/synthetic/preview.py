"""Contact sheets: a few frames of a synthetic video with its ground truth side by side.

Columns: the frame; the masks (character and each object in its own colour) over a dimmed
frame; the OpenPose-18 skeleton over the frame (filled joints are visible, hollow ones hidden);
the depth map (near = warm, stretched over the character and objects). One row per chosen frame, a title line on top.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from dataset.keypoint_formats import get_format

_CHARACTER = (255, 80, 80)
_OBJECTS = ((80, 200, 255), (255, 210, 60), (120, 255, 120), (220, 120, 255), (255, 150, 40))
_LIMB_COLOURS = (
    (255, 0, 0), (255, 85, 0), (255, 170, 0), (255, 255, 0), (170, 255, 0), (85, 255, 0),
    (0, 255, 0), (0, 255, 85), (0, 255, 170), (0, 255, 255), (0, 170, 255), (0, 85, 255),
    (0, 0, 255), (85, 0, 255), (170, 0, 255), (255, 0, 255), (255, 0, 170), (255, 0, 85),
)  # fmt: skip


def _up(image: np.ndarray, factor: int) -> np.ndarray:
    return cv2.resize(image, None, fx=factor, fy=factor, interpolation=cv2.INTER_NEAREST) if factor > 1 else image


def _mask_tile(frame: np.ndarray, character: np.ndarray, objects: np.ndarray) -> np.ndarray:
    tile = frame.astype(np.float32) * 0.35
    for mask, colour in [(character, _CHARACTER)] + [(m, _OBJECTS[k % len(_OBJECTS)]) for k, m in enumerate(objects)]:
        tile[mask] = 0.3 * tile[mask] + 0.7 * np.asarray(colour, np.float32)
    return tile.astype(np.uint8)


def _skeleton_tile(frame: np.ndarray, points: np.ndarray, fmt_name: str, factor: int) -> np.ndarray:
    tile = np.ascontiguousarray(frame.copy())
    fmt = get_format(fmt_name)
    xy = (points[:, :2] * factor + (factor - 1) / 2).round().astype(int)
    shown = points[:, 2] > 0.5
    width = max(1, factor)
    for k, (a, b) in enumerate(fmt.limbs):
        colour = _LIMB_COLOURS[k % len(_LIMB_COLOURS)]
        if shown[a] and shown[b]:
            cv2.line(tile, tuple(map(int, xy[a])), tuple(map(int, xy[b])), colour, width + 1, cv2.LINE_AA)
        else:
            cv2.line(tile, tuple(map(int, xy[a])), tuple(map(int, xy[b])), (128, 128, 128), 1, cv2.LINE_AA)
    for j in range(len(xy)):
        colour = _LIMB_COLOURS[j % len(_LIMB_COLOURS)]
        cv2.circle(tile, tuple(map(int, xy[j])), width + 2, colour, -1 if shown[j] else 1, cv2.LINE_AA)
    return tile


def _depth_tiles(depth: np.ndarray, foreground: np.ndarray) -> np.ndarray:
    """Depth as colour (near = warm), stretched over the character's and objects' depth range so
    that which limb is in front shows; the room beyond that range saturates."""
    finite = np.isfinite(depth)
    values = depth[finite & foreground] if (finite & foreground).any() else depth[finite]
    lo, hi = (np.percentile(values, [1, 99]) if values.size else (0.0, 1.0))
    pad = max(0.25 * (hi - lo), 1e-3)
    near = np.clip((hi + pad - np.where(finite, depth, hi + pad)) / (hi - lo + 2 * pad), 0.0, 1.0)
    codes = (255 * near).astype(np.uint8)
    return np.stack([cv2.applyColorMap(c, cv2.COLORMAP_TURBO)[..., ::-1] for c in codes])


def _title(text: str, width: int) -> np.ndarray:
    bar = np.full((22, width, 3), 24, np.uint8)
    cv2.putText(bar, text, (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (235, 235, 235), 1, cv2.LINE_AA)
    return bar


def contact_sheet(video, path, frames=None, min_tile: int = 192) -> Path:
    """Write a PNG contact sheet of ``video`` (a SynthVideo) at ``path``; returns the path.

    ``frames``: frame indices to show (default: up to four, evenly spaced). Small videos are
    enlarged by an integer factor so each tile is at least ``min_tile`` pixels tall.
    """
    t, h, w = video.character_mask.shape
    default = np.linspace(0, t - 1, min(4, t)).round().astype(int)
    indices = [int(i) for i in (frames if frames is not None else sorted(set(default)))]
    factor = max(1, int(np.ceil(min_tile / h)))
    pixels = video.frames if video.frames is not None else np.full((t, h, w, 3), 90, np.uint8)
    foreground = video.character_mask[indices] | video.object_masks[indices].any(axis=1)
    depth = _depth_tiles(video.depth[indices], foreground)
    rows = []
    for n, i in enumerate(indices):
        frame = _up(pixels[i], factor)
        masks = _up(_mask_tile(pixels[i], video.character_mask[i], video.object_masks[i]), factor)
        skeleton = _skeleton_tile(frame, video.keypoints[i], video.keypoint_format, factor)
        rows.append(np.concatenate([frame, masks, skeleton, _up(depth[n], factor)], axis=1))
    sheet = np.concatenate(rows, axis=0)
    labels = ",".join(video.object_labels) or "no objects"
    title = f"{video.name}  {video.motion}  {video.body}/{video.clothing}  {labels}  frames {indices}"
    sheet = np.concatenate([_title(title, sheet.shape[1]), sheet], axis=0)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), sheet[..., ::-1]):
        raise OSError(f"could not write {path}")
    return path
