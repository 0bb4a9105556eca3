"""Pure functions of clip planning: frame-rate resampling by timestamp, shot cuts, clip windows,
resize sizes, display rotation.

Resampling works on presentation timestamps, so variable-frame-rate sources come out at a
constant rate: target frame ``j`` (time ``t0 + j / fps``) takes the first source frame whose
timestamp reaches ``t0 + j / fps`` less half a source frame; a gap in the source is filled by
repeating the frame that ends it. This needs no look-ahead, so frames are decoded and dropped as
they stream by.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np


def clip_fps(source_fps: float, target_fps: float | None) -> float:
    """The clip rate: the target, but never above the source's (no invented frames)."""
    if target_fps is None or source_fps <= 0:
        return source_fps
    return min(float(target_fps), float(source_fps))


@dataclass
class FrameSelector:
    """Streams timestamps in decode order and says how many times each frame is used (0, 1, ...)."""

    fps: float
    source_fps: float
    t0: float | None = None
    next_index: int = 0

    def copies(self, t: float) -> int:
        if self.t0 is None:
            self.t0 = t
        tolerance = 0.5 / self.source_fps if self.source_fps > 0 else 0.0
        count = 0
        while self.t0 + self.next_index / self.fps - tolerance <= t + 1e-9:
            count += 1
            self.next_index += 1
        return count


def resample_indices(timestamps: list[float], fps: float, source_fps: float) -> list[int]:
    """Source frame index of every target frame for a whole list of timestamps (used by tests)."""
    selector, out = FrameSelector(fps, source_fps), []
    for i, t in enumerate(timestamps):
        out += [i] * selector.copies(t)
    return out


def thumbnail(frame: np.ndarray) -> np.ndarray:
    """32x32 grey thumbnail in [0, 1], the unit of shot-cut detection."""
    grey = cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2GRAY)
    return cv2.resize(grey, (32, 32), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0


def is_cut(previous: np.ndarray | None, current: np.ndarray, threshold: float) -> bool:
    return previous is not None and float(np.abs(previous - current).mean()) > threshold


def output_size(height: int, width: int, short_side: int | None) -> tuple[int, int]:
    """(h, w) with the short side at ``short_side`` (never upscaled), aspect kept."""
    short = min(height, width)
    if short_side is None or short <= short_side:
        return height, width
    scale = short_side / short
    return max(1, round(height * scale)), max(1, round(width * scale))


def rotation_turns(degrees: float) -> int:
    """Quarter turns counter-clockwise (np.rot90's k) that display a frame with this rotation."""
    return int(round(degrees / 90.0)) % 4


def display_frame(frame: np.ndarray, turns: int, size: tuple[int, int]) -> np.ndarray:
    """Rotate a decoded frame as the container says it is displayed, then resize to ``size``."""
    if turns:
        frame = np.rot90(frame, k=turns)
    if frame.shape[:2] != size:
        frame = cv2.resize(np.ascontiguousarray(frame), (size[1], size[0]), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(frame)


@dataclass
class ClipWindow:
    """Accumulates selected frames into clips: a shot cut or a full window closes a clip."""

    clip_frames: int
    min_frames: int
    frames: list = field(default_factory=list)
    indices: list = field(default_factory=list)

    def add(self, frame: np.ndarray, index: int, cut: bool) -> list[tuple[list[int], np.ndarray]]:
        done = self.flush() if cut else []
        self.frames.append(frame)
        self.indices.append(index)
        if len(self.frames) == self.clip_frames:
            done += self.flush()
        return done

    def flush(self) -> list[tuple[list[int], np.ndarray]]:
        frames, indices = self.frames, self.indices
        self.frames, self.indices = [], []
        if len(frames) < self.min_frames or (len(frames) > 1 and indices[0] == indices[-1]):
            return []  # too short, or one frozen frame repeated over a gap (its key would repeat too)
        return [(indices, np.stack(frames))]


def rotate_points(xy: np.ndarray, turns: int, height: int, width: int) -> np.ndarray:
    """Pixel coordinates [..., 2] under ``np.rot90(image [height, width], k=turns)``."""
    x, y = xy[..., 0].copy(), xy[..., 1].copy()
    for _ in range(turns % 4):
        x, y = y, (width - 1) - x
        height, width = width, height
    return np.stack([x, y], axis=-1)


def scale_points(xy: np.ndarray, from_size: tuple[int, int], to_size: tuple[int, int]) -> np.ndarray:
    """Pixel coordinates between two frame sizes (pixel-centre convention)."""
    sy, sx = to_size[0] / from_size[0], to_size[1] / from_size[1]
    out = np.array(xy, dtype=np.float32, copy=True)
    out[..., 0] = (out[..., 0] + 0.5) * sx - 0.5
    out[..., 1] = (out[..., 1] + 0.5) * sy - 0.5
    return out


def nearest_resize(array: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize the last two axes of a mask/depth stack with nearest neighbour (labels stay labels)."""
    h, w = array.shape[-2:]
    if (h, w) == tuple(size):
        return array
    rows = np.minimum(((np.arange(size[0]) + 0.5) * h / size[0]).astype(np.int64), h - 1)
    cols = np.minimum(((np.arange(size[1]) + 0.5) * w / size[1]).astype(np.int64), w - 1)
    return array[..., rows[:, None], cols[None, :]]


def duration_of(num_frames: int, fps: float) -> float:
    return num_frames / fps if fps > 0 else math.nan
