"""Oracle backends: the synthetic world's ground truth, read from each video's sidecar.

The sidecar describes every *source* frame at the source size. A clip was resampled in time
(``Clip.source_frames`` names the source frame of each clip frame), turned upright
(``Clip.rotation_turns``) and resized; the oracle applies exactly the same mapping, with
nearest-neighbour resampling for masks and depth and the pixel-centre mapping for keypoints.
Used to test the pipeline end to end against known answers; a video without a sidecar fails
with ``no_sidecar``.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from ..timeline import nearest_resize, rotate_points, scale_points
from .base import AnnotationError, Annotator, Clip, Localisation, ObjectTrack, Pose, Segmentation

_CACHE: OrderedDict = OrderedDict()  # sidecar path -> SynthVideo; clips of one video come together
_CACHE_SIZE = 2


def _load(clip: Clip):
    from dataset.synthetic import load_sidecar, sidecar_for  # the synthetic world, only when used

    path = clip.sidecar or sidecar_for(clip.source)
    if path is None:
        raise AnnotationError("no_sidecar", clip.source)
    key = str(path)
    if key not in _CACHE:
        _CACHE[key] = load_sidecar(path)
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    _CACHE.move_to_end(key)
    return _CACHE[key]


def _frames(clip: Clip, total: int) -> np.ndarray:
    index = np.asarray(clip.source_frames or range(clip.start_frame, clip.start_frame + clip.num_frames), np.int64)
    if len(index) != clip.num_frames or index.max() >= total:
        raise AnnotationError("sidecar_mismatch", f"clip frames {index.min()}..{index.max()}, sidecar has {total}")
    return index


def _image_stack(array: np.ndarray, clip: Clip) -> np.ndarray:
    """[T, ..., H, W] source arrays -> upright and at the clip's size."""
    if clip.rotation_turns:
        array = np.rot90(array, k=clip.rotation_turns, axes=(-2, -1))
    return np.ascontiguousarray(nearest_resize(array, clip.size))


def clip_truth(clip: Clip) -> dict:
    """Ground truth of a clip, in the clip's frames and pixels."""
    video = _load(clip)
    index = _frames(clip, len(video.character_mask))
    h, w = video.character_mask.shape[1:]
    objects = np.asarray(video.object_masks[index], bool)
    keypoints = np.asarray(video.keypoints[index], np.float32).copy()
    xy = rotate_points(keypoints[..., :2], clip.rotation_turns, h, w)
    upright = (h, w) if clip.rotation_turns % 2 == 0 else (w, h)
    keypoints[..., :2] = scale_points(xy, upright, clip.size)
    return {
        "character": _image_stack(np.asarray(video.character_mask[index], bool), clip),
        "objects": _image_stack(objects, clip) if objects.shape[1] else np.zeros((len(index), 0, *clip.size), bool),
        "labels": list(video.object_labels),
        "keypoints": keypoints,
        "depth": _image_stack(np.asarray(video.depth[index], np.float32), clip),
    }


def mask_box(mask: np.ndarray) -> tuple[float, float, float, float] | None:
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        return None
    return float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)


@dataclass
class _OracleBase(Annotator):
    keyframe_every: int = 8
    """Localise reports boxes on every n-th clip frame."""

    name = "oracle"

    def __post_init__(self) -> None:
        if self.keyframe_every < 1:
            raise ValueError(f"keyframe_every must be >= 1, got {self.keyframe_every}")


class OracleLocalise(_OracleBase):
    role = "localise"

    def __call__(self, clips: list[Clip], **_) -> list[Localisation]:
        return [self._one(clip_truth(c)) for c in clips]

    def _one(self, truth: dict) -> Localisation:
        frames = range(0, len(truth["character"]), self.keyframe_every)
        person = {t: b for t in frames if (b := mask_box(truth["character"][t])) is not None}
        tracks = []
        for k, label in enumerate(truth["labels"]):
            boxes = {t: b for t in frames if (b := mask_box(truth["objects"][t, k])) is not None}
            tracks.append(ObjectTrack(label, boxes))
        return Localisation(person=person, objects=tracks)


class OracleSegment(_OracleBase):
    role = "segment"

    def __call__(self, clips: list[Clip], **_) -> list[Segmentation]:
        truths = [clip_truth(c) for c in clips]
        return [Segmentation(t["character"], t["objects"], t["labels"]) for t in truths]


class OraclePose(_OracleBase):
    role = "pose"

    def __call__(self, clips: list[Clip], **_) -> list[Pose]:
        return [Pose(clip_truth(c)["keypoints"], "openpose_18") for c in clips]


class OracleDepth(_OracleBase):
    role = "depth"

    def __call__(self, clips: list[Clip], **_) -> list[np.ndarray]:
        return [clip_truth(c)["depth"] for c in clips]
