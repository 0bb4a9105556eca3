"""Localise backend with Grounding DINO: an open-vocabulary detector instead of a VLM.

A detector cannot be asked which objects the person interacts with, so it is asked for a fixed
vocabulary (``labels``, "person" always included) and an object counts as interacting when
enough of it lies on or next to the person's box (:func:`preprocess.models.boxes.touches`).
Keyframes, label tracks and the manual boxes override are those of the VLM backend.
:class:`DetectorLocaliser` is that shape for any detector (the Florence-2 backend uses it too).
"""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass, field

from .base import AnnotationError, Clip, Localisation
from .vlm import KeyframeLocaliser, tracks_from_keyframes

FETCH = "a Grounding DINO model folder (e.g. IDEA-Research/grounding-dino-base from https://huggingface.co)"
DEFAULT_LABELS = ["person", "ball", "bag", "box", "cup", "bottle", "phone", "umbrella", "chair", "bicycle",
                  "skateboard", "guitar", "book", "racket", "bat", "dog", "toy", "hat", "stick", "flag"]  # fmt: skip


@dataclass
class GroundingConfig:
    model: str = ""
    labels: list[str] = field(default_factory=lambda: list(DEFAULT_LABELS))
    box_threshold: float = 0.35
    text_threshold: float = 0.25
    contact_margin: float = 0.1  # person box grown by this share of its size on each side
    min_inside: float = 0.3  # share of an object's area that must lie in the grown person box
    manual_boxes: str | None = None
    num_keyframes: int = 3
    batch_size: int = 8
    device: str = "auto"
    dtype: str = "bfloat16"
    num_gpus: float = 0.0

    def __post_init__(self) -> None:
        self.labels = ["person"] + [lab for lab in self.labels if lab.strip().lower() != "person"]
        if not 0 <= self.box_threshold <= 1 or not 0 <= self.text_threshold <= 1 or not 0 < self.min_inside <= 1:
            raise ValueError("thresholds must lie in [0, 1] and min_inside in (0, 1]")
        if self.num_keyframes < 1 or self.batch_size < 1:
            raise ValueError("num_keyframes and batch_size must be >= 1")


class DetectorLocaliser(KeyframeLocaliser):
    """A detector on keyframes plus the contact rule; subclasses detect.

    Needs ``self.config`` with contact_margin and min_inside besides what
    :class:`~preprocess.annotators.vlm.KeyframeLocaliser` needs.
    """

    @abstractmethod
    def detect(self, images: list) -> list[list]:
        """Detections (label, box in frame pixels) of each image."""

    def keep(self, label: str) -> bool:
        """Whether a detection of this label may count as an interacting object."""
        return True

    def infer(self, images: list) -> list[list]:
        return self.detect(images)

    def _localise(self, clip: Clip, frames: dict[int, list]) -> Localisation | AnnotationError:
        from preprocess.models.boxes import touches
        from preprocess.models.vlm_parse import split_person

        person, objects = {}, {}
        for frame, detections in frames.items():
            box, others = split_person(detections)
            if box is None:
                continue
            person[frame] = box
            objects[frame] = [d for d in others if self.keep(d.label)
                              and touches(box, d.box, self.config.contact_margin, self.config.min_inside)]
        if not person:
            return AnnotationError("no_person_found", f"no person detected on keyframes {sorted(frames)}")
        return Localisation(person=person, objects=tracks_from_keyframes(objects))


class GroundingDinoLocaliser(DetectorLocaliser):
    role, name, version = "localise", "grounding_dino", "1"

    def __init__(self, **config):
        self._open(GroundingConfig(**config), "Grounding DINO", FETCH)

    def setup(self) -> None:
        from preprocess.models.grounding import GroundingDetector

        c = self.config
        self.model = self._on_device("grounding_dino", lambda device, dtype: GroundingDetector(
            c.model, device, dtype, c.box_threshold, c.text_threshold))

    def detect(self, images: list) -> list[list]:
        return self.model.detect(images, self.config.labels)
