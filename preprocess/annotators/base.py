"""The annotator interface: four roles (localise, segment, pose, depth), each with backends.

Every backend is a small class: ``__init__(config)`` stores its typed config and checks that
its weight files exist (a missing file fails at start, naming it); ``setup()`` loads weights
once per worker (a Ray actor calls it once); ``__call__(clips, ...)`` annotates a *list* of
clips, so GPU backends can batch across clips. Results come back in the same order.

A backend raises :class:`AnnotationError` (with a stable snake_case ``reason``) for a clip that
cannot be annotated; the stage records it as data and the job goes on. Any other exception is a
bug and propagates.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np

Box = tuple[float, float, float, float]  # x1, y1, x2, y2 in clip pixels

ROLES = ("localise", "segment", "pose", "depth")


class AnnotationError(Exception):
    """A per-clip failure, recorded with its reason (snake_case, stable) instead of stopping the job."""

    def __init__(self, reason: str, detail: str = ""):
        self.reason, self.detail = reason, detail
        super().__init__(f"{reason}: {detail}" if detail else reason)


@dataclass
class Clip:
    """Decoded frames of one clip plus what annotators may need to know about it."""

    key: str
    frames: np.ndarray  # uint8 [T, H, W, 3] RGB
    fps: float
    source: str  # source video path or URL
    video_id: str
    start_frame: int  # first source frame
    sidecar: Path | None = None  # ground-truth sidecar of a synthetic video (oracle backends)
    # Source frame index of every clip frame (after frame-rate resampling), and the quarter
    # turns (np.rot90's k) that made the decoded frames upright: how clip pixels map to the source.
    source_frames: tuple[int, ...] = ()
    rotation_turns: int = 0

    @property
    def num_frames(self) -> int:
        return int(self.frames.shape[0])

    @property
    def size(self) -> tuple[int, int]:
        return int(self.frames.shape[1]), int(self.frames.shape[2])


@dataclass
class ObjectTrack:
    label: str
    boxes: dict[int, Box]  # clip frame index -> box, on the keyframes where it was found


@dataclass
class Localisation:
    person: dict[int, Box]  # clip frame index -> person box (keyframes)
    objects: list[ObjectTrack] = field(default_factory=list)


def localisation_to_json(localisation: Localisation) -> str:
    """A localisation as JSON text (frame keys become strings)."""
    def boxes(d):
        return {str(k): [float(v) for v in b] for k, b in d.items()}

    return json.dumps({"person": boxes(localisation.person),
                       "objects": [{"label": t.label, "boxes": boxes(t.boxes)} for t in localisation.objects]})


def localisation_from_json(text: str) -> Localisation:
    """Inverse of :func:`localisation_to_json`."""
    data = json.loads(text)

    def boxes(d):
        return {int(k): tuple(float(v) for v in b) for k, b in d.items()}

    return Localisation(person=boxes(data["person"]),
                        objects=[ObjectTrack(t["label"], boxes(t["boxes"])) for t in data["objects"]])


@dataclass
class Segmentation:
    character: np.ndarray  # bool [T, H, W]
    objects: np.ndarray  # bool [T, K, H, W]
    labels: list[str]


@dataclass
class Pose:
    keypoints: np.ndarray  # float32 [T, J, 3]: x, y in clip pixels, score in [0, 1]
    format: str  # a name registered in dataset.keypoint_formats


Depth = np.ndarray  # float32 [T, Hd, Wd], larger = farther, NaN where unknown


class Annotator:
    """Base of every backend. Subclasses set ``role`` and ``name`` and implement ``__call__``."""

    role: ClassVar[str]
    name: ClassVar[str]
    version: ClassVar[str] = "1"
    num_gpus: float = 0.0  # set from config; Ray reserves this per actor

    def setup(self) -> None:
        """Load weights; called once on the worker before the first ``__call__``."""

    @property
    def tag(self) -> str:
        return f"{self.name}@{self.version}"


def per_clip(fn, clips: list[Clip], segmentations: list[Segmentation]) -> list:
    """``fn(clip, segmentation)`` for each clip; an AnnotationError becomes that clip's result."""
    results = []
    for clip, seg in zip(clips, segmentations, strict=True):
        try:
            results.append(fn(clip, seg))
        except AnnotationError as err:
            results.append(err)
    return results


def require_file(path: str | Path | None, what: str, fetch_hint: str) -> Path:
    """Fail at start, before any video is read, when a weight file is not where config says."""
    if not path:
        raise FileNotFoundError(f"{what}: no path given in the weights config; fetch {fetch_hint}")
    p = Path(path).expanduser()
    if not p.exists():
        raise FileNotFoundError(f"{what}: {p} does not exist; fetch {fetch_hint} and put it there")
    return p
