"""Pictures of one training sample: every condition side by side, as a PNG grid and an mp4.

Columns: target, reference, environment, mask Mf (character outline drawn in), objects,
skeleton, structured depth, and an overlay of skeleton and Mf outline on the target, the quickest
way to see whether the conditions line up with the person.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from dataset.training_sample import TrainingSample
from dataset.video import encode_mp4

COLUMNS = ("target", "reference", "environment", "mask Mf", "objects", "skeleton", "struct depth", "overlay")


def _outline(mask: np.ndarray) -> np.ndarray:
    m = mask.astype(np.uint8)
    return (cv2.dilate(m, np.ones((3, 3), np.uint8)) - m).astype(bool)


def _mask_tile(mf: np.ndarray, character: np.ndarray) -> np.ndarray:
    tile = np.repeat((mf * 255).astype(np.uint8)[..., None], 3, axis=-1)
    tile[_outline(character)] = (255, 0, 0)
    return tile


def _depth_tile(depth: np.ndarray) -> np.ndarray:
    coloured = cv2.applyColorMap(depth, cv2.COLORMAP_INFERNO)[..., ::-1]
    return np.where(depth[..., None] > 0, coloured, 0).astype(np.uint8)


def _overlay(frame, skeleton, mf) -> np.ndarray:
    out = np.where(skeleton.any(axis=-1, keepdims=True), skeleton, frame // 2 + 64)
    out[_outline(mf)] = (255, 255, 255)
    return out


def frame_tiles(s: TrainingSample, t: int) -> list[np.ndarray]:
    """The eight columns for frame ``t`` (uint8 [H, W, 3] each)."""
    return [
        s.frames[t], s.reference, s.environment[t], _mask_tile(s.mask[t], s.character[t]), s.objects[t],
        s.skeleton[t], _depth_tile(s.struct_depth[t]), _overlay(s.frames[t], s.skeleton[t], s.mask[t]),
    ]


def _row(tiles: list[np.ndarray], gap: int = 4) -> np.ndarray:
    h = tiles[0].shape[0]
    pad = np.full((h, gap, 3), 40, np.uint8)
    parts = []
    for tile in tiles:
        parts += [tile, pad]
    return np.concatenate(parts[:-1], axis=1)


def _header(width: int, tile_w: int, gap: int = 4) -> np.ndarray:
    bar = np.full((22, width, 3), 20, np.uint8)
    for i, name in enumerate(COLUMNS):
        cv2.putText(bar, name, (i * (tile_w + gap) + 4, 15), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (230, 230, 230), 1,
                    cv2.LINE_AA)
    return bar


def sample_grid(s: TrainingSample, rows: int = 4) -> np.ndarray:
    """uint8 image: a header, then one row per chosen frame (evenly spread over the sample)."""
    picks = np.unique(np.linspace(0, len(s.frames) - 1, min(rows, len(s.frames))).round().astype(int))
    body = [_row(frame_tiles(s, int(t))) for t in picks]
    gap = np.full((4, body[0].shape[1], 3), 40, np.uint8)
    stacked = [x for row in body for x in (row, gap)][:-1]
    return np.concatenate([_header(body[0].shape[1], s.frames.shape[2]), *stacked], axis=0)


def write_sample_pictures(s: TrainingSample, png: Path, fps: float = 8.0) -> tuple[Path, Path]:
    """Write ``png`` (grid) and the same name with ``.mp4`` (every frame, all columns)."""
    png = Path(png)
    png.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(png), sample_grid(s)[..., ::-1])
    video = np.stack([_row(frame_tiles(s, t)) for t in range(len(s.frames))])
    mp4 = png.with_suffix(".mp4")
    mp4.write_bytes(encode_mp4(video, fps))
    return png, mp4
