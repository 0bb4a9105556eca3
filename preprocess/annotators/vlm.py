"""Localise backends: a VLM (Qwen2.5-VL default, Qwen3-VL alternative) and a manual boxes file.

Boxes of the person and of the objects it interacts with, on a few evenly spaced keyframes per
clip. All keyframes of all clips in a call go to the model as one batch. A manual boxes file
(:mod:`preprocess.models.manual_boxes`), when given, wins for every clip it covers.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .base import AnnotationError, Annotator, Clip, Localisation, ObjectTrack, require_file

log = logging.getLogger(__name__)
FETCH = {
    "qwen2_5_vl": "a Qwen2.5-VL model folder (e.g. Qwen/Qwen2.5-VL-7B-Instruct from https://huggingface.co)",
    "qwen3_vl": "a Qwen3-VL model folder (e.g. Qwen/Qwen3-VL-8B-Instruct from https://huggingface.co)",
}


@dataclass
class VlmConfig:
    model: str = ""  # local folder with config.json, weights and processor files
    family: str = "qwen2_5_vl"
    manual_boxes: str | None = None
    num_keyframes: int = 3
    batch_size: int = 8  # images per generate() call
    max_new_tokens: int = 256
    max_pixels: int | None = 512 * 28 * 28  # caps the image tokens per keyframe
    device: str = "auto"
    dtype: str = "bfloat16"
    num_gpus: float = 0.0

    def __post_init__(self) -> None:
        if self.family not in FETCH:
            raise ValueError(f"unknown VLM family {self.family!r}; expected one of {sorted(FETCH)}")
        if self.num_keyframes < 1 or self.batch_size < 1:
            raise ValueError("num_keyframes and batch_size must be >= 1")


def keyframes(num_frames: int, count: int) -> list[int]:
    return sorted({int(round(v)) for v in np.linspace(0, num_frames - 1, min(count, num_frames))})


def tracks_from_keyframes(per_frame: dict[int, list]) -> list[ObjectTrack]:
    """Group detections by label across keyframes; repeats of a label in one frame get _2, _3."""
    tracks: dict[str, dict[int, tuple]] = {}
    for frame, detections in sorted(per_frame.items()):
        seen: dict[str, int] = {}
        for det in detections:
            seen[det.label] = seen.get(det.label, 0) + 1
            name = det.label if seen[det.label] == 1 else f"{det.label}_{seen[det.label]}"
            tracks.setdefault(name, {})[frame] = det.box
    return [ObjectTrack(label, boxes) for label, boxes in tracks.items()]


class ManualOverride:
    """Boxes from a manual boxes file win over a model for the clips the file covers."""

    manual = None

    def _load_manual(self, path: str | None) -> None:
        from preprocess.models.manual_boxes import ManualBoxes

        self.manual = ManualBoxes(require_file(path, "manual boxes file", "the JSON boxes file named in the config")) if path else None

    def _manual(self, clip: Clip) -> Localisation | AnnotationError | None:
        if self.manual is None:
            return None
        source = list(clip.source_frames) or list(range(clip.start_frame, clip.start_frame + clip.num_frames))
        found = self.manual.for_clip(clip.video_id, source, clip.size, clip.rotation_turns)
        if found is None:
            return None
        person, objects = found
        if not person:
            return AnnotationError("no_person_found", "the manual boxes give no person box in this clip")
        return Localisation(person=person, objects=[ObjectTrack(label, boxes) for label, boxes in objects])


class ManualLocaliser(ManualOverride, Annotator):
    role, name, version = "localise", "manual", "1"

    def __init__(self, boxes: str = "", num_gpus: float = 0.0):
        self._load_manual(boxes or None)
        if self.manual is None:
            raise FileNotFoundError("manual boxes file: no path given in the config")
        self.num_gpus = num_gpus

    def __call__(self, clips: list[Clip]) -> list[Localisation | AnnotationError]:
        return [self._manual(c) or AnnotationError("no_manual_boxes", f"no boxes for {c.video_id} in this span") for c in clips]


class KeyframeLocaliser(ManualOverride, Annotator, ABC):
    """A model from a local folder asked about evenly spaced keyframes, batched across the clips
    of a call; the manual boxes file wins where it covers a clip. Subclasses set ``self.config``
    (with model, device, dtype, num_gpus, manual_boxes, num_keyframes, batch_size) through
    :meth:`_open`, build the model in ``setup()`` through :meth:`_on_device`, and implement
    :meth:`infer` (a result per keyframe) and ``_localise(clip, results by keyframe)``."""

    model = None

    def _open(self, config, what: str, fetch: str) -> str:
        """Check the weights folder (and its config.json) before any video is read."""
        self.config = config
        folder = require_file(config.model, f"{what} weights", fetch)
        require_file(Path(folder) / "config.json", f"{what} config", fetch)
        self._load_manual(config.manual_boxes)
        self.num_gpus = config.num_gpus
        return folder

    def _on_device(self, name: str, build):
        """``build(device, dtype)`` on the configured device, its GPU memory logged once."""
        from preprocess.models.device import log_setup_memory, memory_mark, resolve_device, resolve_dtype

        device = resolve_device(self.config.device)
        before = memory_mark(device)
        model = build(device, resolve_dtype(self.config.dtype))
        log_setup_memory(f"{name} ({Path(self.config.model).name})", device, before)
        return model

    @abstractmethod
    def infer(self, images: list) -> list:
        """The model's result for each keyframe image."""

    @abstractmethod
    def _localise(self, clip: Clip, results: dict[int, object]) -> Localisation | AnnotationError:
        """One clip's localisation from the model's results by keyframe."""

    def __call__(self, clips: list[Clip]) -> list[Localisation | AnnotationError]:
        results: list = [self._manual(c) for c in clips]
        pending = [(i, f) for i, c in enumerate(clips) if results[i] is None for f in keyframes(c.num_frames, self.config.num_keyframes)]
        if pending and self.model is None:
            self.setup()
        found = []
        for s in range(0, len(pending), self.config.batch_size):
            batch = pending[s : s + self.config.batch_size]
            found += self.infer([clips[i].frames[f] for i, f in batch])
        per_clip: dict[int, dict[int, object]] = {}
        for (i, f), result in zip(pending, found):
            per_clip.setdefault(i, {})[f] = result
        for i, frames in per_clip.items():
            results[i] = self._localise(clips[i], frames)
        return results


class VlmLocaliser(KeyframeLocaliser):
    role, name, version = "localise", "vlm", "1"

    def __init__(self, **config):
        c = VlmConfig(**config)
        self._open(c, c.family, FETCH[c.family])

    def setup(self) -> None:
        from preprocess.models.vlm import GroundingVLM

        c = self.config
        self.model = self._on_device(f"vlm {c.family}", lambda device, dtype: GroundingVLM(
            c.model, c.family, device, dtype, c.max_new_tokens, c.max_pixels))

    def infer(self, images: list) -> list:
        return self.model.ask(images)

    def _localise(self, clip: Clip, answers: dict) -> Localisation | AnnotationError:
        from preprocess.models.vlm_parse import parse_grounding, split_person

        person, objects = {}, {}
        for frame, answer in answers.items():
            box, found = split_person(parse_grounding(answer.text, self.config.family, clip.size, answer.model_hw))
            if box is not None:
                person[frame] = box
            objects[frame] = found
        if not person:
            log.debug("%s: no person in answers %s", clip.key, [a.text[:80] for a in answers.values()])
            return AnnotationError("no_person_found", f"no person box on keyframes {sorted(answers)}")
        return Localisation(person=person, objects=tracks_from_keyframes(objects))
