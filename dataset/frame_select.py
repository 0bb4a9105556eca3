"""Which frames of a clip a training sample uses: N target frames at a stride, and a reference frame.

Only these frames are decoded (``dataset.video.decode_mp4(indices=...)``), so picking them comes
first. Indices are positions in the clip (0 .. T-1).
"""

from __future__ import annotations

import numpy as np


def fitted_stride(num_clip_frames: int, num_frames: int, stride: int) -> int:
    """The largest stride <= ``stride`` at which ``num_frames`` frames fit in the clip."""
    if num_frames < 1 or stride < 1:
        raise ValueError(f"num_frames and stride must be >= 1, got {num_frames}, {stride}")
    if num_clip_frames < num_frames:
        raise ValueError(f"clip has {num_clip_frames} frames, fewer than the {num_frames} needed")
    if num_frames == 1:
        return stride
    return max(1, min(stride, (num_clip_frames - 1) // (num_frames - 1)))


def frame_indices(num_clip_frames: int, num_frames: int, stride: int, rng: np.random.Generator) -> np.ndarray:
    """``num_frames`` indices ``start + stride * i``; the start is drawn uniformly where the window fits.

    Short clips get a smaller stride rather than being dropped; a clip with fewer than
    ``num_frames`` frames raises ``ValueError``.
    """
    stride = fitted_stride(num_clip_frames, num_frames, stride)
    span = (num_frames - 1) * stride + 1
    start = int(rng.integers(0, num_clip_frames - span + 1))
    return start + stride * np.arange(num_frames, dtype=np.int64)


def reference_index(num_clip_frames: int, rng: np.random.Generator) -> int:
    """The reference frame is drawn from the whole clip, not only from the target window."""
    if num_clip_frames < 1:
        raise ValueError("a clip needs at least one frame")
    return int(rng.integers(0, num_clip_frames))
