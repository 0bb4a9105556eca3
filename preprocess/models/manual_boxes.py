"""Hand-made boxes that replace the VLM's for the videos they cover (interactive annotation).

File format (JSON), boxes relative to the frame (0..1, so they survive clip resizing), keyframes
as *source* video frame indices::

    {"<video_id>": {"<source frame>": {"person": [x1, y1, x2, y2],
                                       "objects": [{"label": "ball", "box": [x1, y1, x2, y2]}]}}}
"""

from __future__ import annotations

import json
from pathlib import Path

from .boxes import relative_to_pixels, validate_box


class ManualBoxes:
    def __init__(self, path: str | Path):
        data = json.loads(Path(path).read_text())
        if not isinstance(data, dict):
            raise ValueError(f"{path}: expected an object keyed by video_id")
        self.videos: dict[str, dict[int, dict]] = {vid: {int(f): entry for f, entry in frames.items()} for vid, frames in data.items()}

    def for_clip(self, video_id: str, start_frame: int, num_frames: int, frame_hw: tuple[int, int]):
        """(person {clip frame: box}, [(label, {clip frame: box})]) in clip pixels, or None if not covered."""
        frames = {f - start_frame: e for f, e in self.videos.get(video_id, {}).items() if 0 <= f - start_frame < num_frames}
        if not frames:
            return None
        person, objects = {}, {}
        for frame, entry in sorted(frames.items()):
            box = self._box(entry.get("person"), frame_hw)
            if box is not None:
                person[frame] = box
            for obj in entry.get("objects", []):
                box = self._box(obj.get("box"), frame_hw)
                if box is not None:
                    objects.setdefault(str(obj["label"]), {})[frame] = box
        return person, sorted(objects.items())

    @staticmethod
    def _box(raw, frame_hw):
        if raw is None or len(raw) != 4:
            return None
        return validate_box(relative_to_pixels(raw, frame_hw, 1.0), frame_hw)
