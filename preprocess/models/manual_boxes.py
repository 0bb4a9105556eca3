"""Hand-made boxes that replace the VLM's for the videos they cover (interactive annotation).

File format (JSON), boxes relative to the source frame as stored (0..1, so they survive clip
resizing; a clip turned upright turns them with it), keyframes as *source* video frame indices::

    {"<video_id>": {"<source frame>": {"person": [x1, y1, x2, y2],
                                       "objects": [{"label": "ball", "box": [x1, y1, x2, y2]}]}}}
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .boxes import relative_to_pixels, validate_box


class ManualBoxes:
    def __init__(self, path: str | Path):
        data = json.loads(Path(path).read_text())
        if not isinstance(data, dict):
            raise ValueError(f"{path}: expected an object keyed by video_id")
        self.videos: dict[str, dict[int, dict]] = {vid: {int(f): entry for f, entry in frames.items()} for vid, frames in data.items()}

    def for_clip(self, video_id: str, source_frames: list[int], frame_hw: tuple[int, int], turns: int = 0):
        """(person {clip frame: box}, [(label, {clip frame: box})]) in clip pixels, or None if not covered.

        ``source_frames[i]`` is the source frame shown by clip frame ``i``; a keyframe maps to the
        clip frame showing the nearest source frame, if it lies within the clip's span.
        """
        frames = {}
        for f, entry in self.videos.get(video_id, {}).items():
            if source_frames and source_frames[0] <= f <= source_frames[-1]:
                frames[int(np.abs(np.asarray(source_frames) - f).argmin())] = entry
        if not frames:
            return None
        person, objects = {}, {}
        for frame, entry in sorted(frames.items()):
            box = self._box(entry.get("person"), frame_hw, turns)
            if box is not None:
                person[frame] = box
            for obj in entry.get("objects", []):
                box = self._box(obj.get("box"), frame_hw, turns)
                if box is not None:
                    objects.setdefault(str(obj["label"]), {})[frame] = box
        return person, sorted(objects.items())

    @staticmethod
    def _box(raw, frame_hw, turns):
        if raw is None or len(raw) != 4:
            return None
        return validate_box(relative_to_pixels(rotate_relative_box(raw, turns), frame_hw, 1.0), frame_hw)


def rotate_relative_box(box, turns: int) -> tuple[float, float, float, float]:
    """A 0..1 box under ``np.rot90(image, k=turns)`` (quarter turns counter-clockwise)."""
    x1, y1, x2, y2 = (float(v) for v in box)
    for _ in range(turns % 4):
        x1, y1, x2, y2 = y1, 1 - x2, y2, 1 - x1
    return (x1, y1, x2, y2)
