"""Tiny clips, segmentations and a schema check shared by the annotator backend tests."""

from __future__ import annotations

import numpy as np

from dataset.schema import ClipMeta, ClipSample
from dataset.video import encode_mp4
from preprocess.annotators.base import Clip, Segmentation


def make_clip(t: int = 4, h: int = 48, w: int = 64, seed: int = 0, key: str = "vid0_000000") -> Clip:
    """A clip with a bright 'person' rectangle moving right over a textured background."""
    rng = np.random.default_rng(seed)
    frames = rng.integers(0, 80, size=(t, h, w, 3), dtype=np.uint8)
    for i in range(t):
        frames[i, h // 4 : 3 * h // 4 + 1, w // 4 + i : w // 2 + i] = (220, 180, 160)
    return Clip(key=key, frames=frames, fps=25.0, source=f"/videos/{key}.mp4", video_id=key.split("_")[0], start_frame=0)


def person_segmentation(clip: Clip, empty_frames=()) -> Segmentation:
    t, (h, w) = clip.num_frames, clip.size
    character = np.zeros((t, h, w), bool)
    for i in range(t):
        if i not in empty_frames:
            character[i, h // 4 : 3 * h // 4 + 1, w // 4 + i : w // 2 + i] = True
    return Segmentation(character=character, objects=np.zeros((t, 0, h, w), bool), labels=[])


def to_sample(clip: Clip, seg: Segmentation, keypoints: np.ndarray, depth: np.ndarray, fmt: str) -> ClipSample:
    """Build the schema-v1 sample; its constructor validates every shape."""
    t, (h, w) = clip.num_frames, clip.size
    meta = ClipMeta(source=clip.source, video_id=clip.video_id, start_frame=clip.start_frame, num_frames=t,
                    fps=clip.fps, width=w, height=h, keypoint_format=fmt, object_labels=list(seg.labels))
    return ClipSample(key=clip.key, video=encode_mp4(clip.frames, clip.fps), meta=meta, character_mask=seg.character,
                      object_masks=seg.objects, keypoints=keypoints, depth=depth)
