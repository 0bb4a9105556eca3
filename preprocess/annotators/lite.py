"""Lite backends: CPU-only, no downloaded weights, on MediaPipe Pose (models ship inside its wheel).

One MediaPipe pass per clip gives a person segmentation mask and 33 landmarks with a relative
depth ``z``; the four roles share it through a small per-process cache keyed by clip, so the
annotate stage runs MediaPipe once per clip, not four times.

- localise: person boxes from the mask on keyframes; objects from a user boxes file, else none.
- segment: the person mask (probability > ``mask_threshold``); object masks are the file's boxes
  minus the person.
- pose: ``mediapipe_33`` keypoints (x, y in clip pixels, visibility as score).
- depth: landmark ``z`` spread over the person mask from the nearest bone
  (:mod:`.skeleton_depth`); NaN elsewhere.

The boxes file (JSON) maps a source file name or video_id to ``[{"label": str, "box": [x1, y1,
x2, y2]}]`` with coordinates relative to the frame (0..1), the same for every frame.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dataset.keypoint_formats import get_format

from .base import Annotator, Clip, Localisation, ObjectTrack, Pose, Segmentation, require_file
from .oracle import mask_box
from .skeleton_depth import skeleton_depth

_RESULTS: OrderedDict = OrderedDict()  # (clip key, settings) -> MediaPipe output of that clip
_RESULTS_SIZE = 16


def _mediapipe_pose():
    try:
        import mediapipe as mp
    except ImportError as exc:
        raise ImportError("lite backends need MediaPipe: pip install 'animate-anyone-2[lite]'") from exc
    if not hasattr(mp, "solutions"):
        raise ImportError(f"mediapipe {mp.__version__} lacks mp.solutions.pose; install mediapipe==0.10.14")
    return mp.solutions.pose


def run_mediapipe(clip: Clip, model_complexity: int) -> dict:
    """Mask probabilities [T, H, W] and landmarks [T, 33, 4] (x, y, z in pixels, visibility)."""
    cache_key = (clip.key, model_complexity)
    if cache_key in _RESULTS:
        return _RESULTS[cache_key]
    h, w = clip.size
    masks = np.zeros((clip.num_frames, h, w), np.float32)
    points = np.zeros((clip.num_frames, 33, 4), np.float32)
    with _mediapipe_pose().Pose(static_image_mode=False, model_complexity=model_complexity,
                                enable_segmentation=True) as pose:
        for t, frame in enumerate(clip.frames):
            result = pose.process(np.ascontiguousarray(frame))
            if result.pose_landmarks is None:
                continue
            points[t] = [(p.x * w - 0.5, p.y * h - 0.5, p.z * w, p.visibility) for p in result.pose_landmarks.landmark]
            if result.segmentation_mask is not None:
                masks[t] = result.segmentation_mask
    _RESULTS[cache_key] = {"masks": masks, "points": points}
    while len(_RESULTS) > _RESULTS_SIZE:
        _RESULTS.popitem(last=False)
    return _RESULTS[cache_key]


@dataclass
class _LiteBase(Annotator):
    model_complexity: int = 1
    """MediaPipe Pose model: 0 lite, 1 full, 2 heavy (all inside the wheel)."""
    mask_threshold: float = 0.5
    min_score: float = 0.3
    """Landmarks with lower visibility are not used for depth."""
    keyframe_every: int = 8
    boxes_file: str | None = None
    """JSON of object boxes per video (see module docstring); None: no objects."""

    name = "lite"

    def __post_init__(self) -> None:
        if self.model_complexity not in (0, 1, 2):
            raise ValueError(f"model_complexity must be 0, 1 or 2, got {self.model_complexity}")
        if not 0 < self.mask_threshold < 1:
            raise ValueError(f"mask_threshold must be in (0, 1), got {self.mask_threshold}")
        self._boxes = {}
        if self.boxes_file:
            self._boxes = json.loads(require_file(self.boxes_file, "lite object boxes", "a boxes JSON").read_text())

    def setup(self) -> None:
        _mediapipe_pose()

    def outputs(self, clip: Clip) -> dict:
        # No person found leaves empty masks and zero scores: qualify rejects the clip as no_person.
        return run_mediapipe(clip, self.model_complexity)

    def object_boxes(self, clip: Clip) -> list[tuple[str, tuple[float, float, float, float]]]:
        entries = self._boxes.get(clip.video_id) or self._boxes.get(Path(clip.source).name) or []
        h, w = clip.size
        return [(e["label"], (e["box"][0] * w, e["box"][1] * h, e["box"][2] * w, e["box"][3] * h)) for e in entries]


class LiteLocalise(_LiteBase):
    role = "localise"

    def __call__(self, clips: list[Clip], **_) -> list[Localisation]:
        out = []
        for clip in clips:
            masks = self.outputs(clip)["masks"] > self.mask_threshold
            frames = range(0, clip.num_frames, self.keyframe_every)
            person = {t: b for t in frames if (b := mask_box(masks[t])) is not None}
            objects = [ObjectTrack(label, {t: box for t in frames}) for label, box in self.object_boxes(clip)]
            out.append(Localisation(person=person, objects=objects))
        return out


class LiteSegment(_LiteBase):
    role = "segment"

    def __call__(self, clips: list[Clip], **_) -> list[Segmentation]:
        out = []
        for clip in clips:
            person = self.outputs(clip)["masks"] > self.mask_threshold
            boxes = self.object_boxes(clip)
            objects = np.zeros((clip.num_frames, len(boxes), *clip.size), bool)
            for k, (_, (x1, y1, x2, y2)) in enumerate(boxes):
                objects[:, k, int(y1): int(np.ceil(y2)), int(x1): int(np.ceil(x2))] = True
            objects &= ~person[:, None]
            out.append(Segmentation(person, objects, [label for label, _ in boxes]))
        return out


class LitePose(_LiteBase):
    role = "pose"

    def __call__(self, clips: list[Clip], **_) -> list[Pose]:
        out = []
        for clip in clips:
            points = self.outputs(clip)["points"]
            keypoints = np.concatenate([points[..., :2], np.clip(points[..., 3:4], 0, 1)], axis=-1)
            out.append(Pose(keypoints.astype(np.float32), "mediapipe_33"))
        return out


class LiteDepth(_LiteBase):
    role = "depth"

    def __call__(self, clips: list[Clip], **_) -> list[np.ndarray]:
        limbs = get_format("mediapipe_33").limbs
        out = []
        for clip in clips:
            res = self.outputs(clip)
            masks = res["masks"] > self.mask_threshold
            out.append(np.stack([skeleton_depth(p, m, limbs, self.min_score) for p, m in zip(res["points"], masks)]))
        return out
