"""Sapiens pose and depth backends: top-down on the person box taken from the segment masks.

Weights are either a Sapiens-Lite TorchScript export (``*_torchscript.pt2``: ``torch.jit.load``,
float32, input fixed at the size it was traced with, 1024x768 for the official files) or an
original ``.pth`` checkpoint, rebuilt in :mod:`preprocess.models.sapiens_vit` and run under bf16
autocast. Which one a file is, is read from the file (TorchScript archives carry a ``code/``
folder). Pose returns keypoints in clip pixels in the checkpoint's native format; depth returns
relative depth (larger = farther) on the person, NaN elsewhere, at ``depth_scale`` of the frame.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from .base import AnnotationError, Annotator, Clip, Pose, Segmentation, per_clip, require_file

KNOWN_FORMAT_SIZES = {"goliath_308": 308, "coco_wholebody_133": 133, "coco_17": 17}
FETCH = "a Sapiens checkpoint from https://huggingface.co/facebook (sapiens-pose-* / sapiens-depth-*, .pth or *_torchscript.pt2)"


@dataclass
class SapiensConfig:
    checkpoint: str = ""  # .pth (original) or *_torchscript.pt2 (Sapiens-Lite)
    format: str = "goliath_308"  # keypoint format name (pose only)
    input_hw: tuple[int, int] = (1024, 768)
    num_heads: int | None = None  # only for widths not in the official size table
    device: str = "auto"
    dtype: str = "bfloat16"
    batch_size: int = 16
    depth_scale: float = 0.5  # depth map size relative to the clip frame
    compile_head: bool = True  # own modules on CUDA: the head channels-last and compiled (first batches compile)
    num_gpus: float = 0.0

    def __post_init__(self) -> None:
        self.input_hw = tuple(int(v) for v in self.input_hw)
        if self.batch_size < 1 or not 0 < self.depth_scale <= 1:
            raise ValueError("batch_size must be >= 1 and depth_scale in (0, 1]")
        if self.format not in KNOWN_FORMAT_SIZES:
            raise ValueError(f"Sapiens keypoint format {self.format!r} is not one of {sorted(KNOWN_FORMAT_SIZES)}")


def is_torchscript(path) -> bool:
    """TorchScript archives carry a ``code/`` folder; ``torch.export`` archives are refused outright."""
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
    # older exports hold serialized_exported_program.json, newer ones an archive_format entry
    if any("serialized_exported_program" in name or name.endswith("/archive_format") for name in names):
        raise ValueError(f"{path} is a torch.export archive (the bfloat16/float16 Sapiens-Lite files), tied to the "
                         "PyTorch that wrote it; use the *_torchscript.pt2 export or the original .pth instead")
    return any(name.split("/")[1:2] == ["code"] for name in names)


def person_boxes(seg: Segmentation) -> tuple[np.ndarray, np.ndarray]:
    from preprocess.models.boxes import mask_track_boxes

    boxes, present = mask_track_boxes(seg.character)
    if not present.any():
        raise AnnotationError("empty_person_mask", "no frame has a person mask to crop from")
    return boxes, present


def topdown_pose(runner, clip: Clip, seg: Segmentation, fmt: str, source: str) -> Pose:
    """Keypoints of one clip on crops around its person mask; frames without the person get score 0."""
    boxes, present = person_boxes(seg)
    keypoints = runner.keypoints(clip.frames, boxes)
    expected = KNOWN_FORMAT_SIZES[fmt]
    if keypoints.shape[1] != expected:
        raise ValueError(f"{source} predicts {keypoints.shape[1]} keypoints, format {fmt} has {expected}")
    keypoints[~present, :, 2] = 0.0
    return Pose(keypoints=keypoints, format=fmt)


def topdown_depth(runner, clip: Clip, seg: Segmentation, depth_scale: float, channel: int = 0) -> np.ndarray:
    """Depth of one clip at ``depth_scale`` of its size, on the person mask, NaN elsewhere."""
    boxes, _ = person_boxes(seg)
    h, w = clip.size
    out_hw = (max(2, round(h * depth_scale)), max(2, round(w * depth_scale)))
    return runner.depth(clip.frames, boxes, seg.character, out_hw, channel=channel)


class RunnerBackend(Annotator):
    """A backend whose ``setup()`` builds ``self.runner`` (a TopdownRunner), applied clip by clip."""

    runner = None

    def _each(self, clips: list[Clip], segmentations: list[Segmentation], fn) -> list:
        if self.runner is None:
            self.setup()
        return per_clip(fn, clips, segmentations)


class _SapiensBase(RunnerBackend):
    task: ClassVar[str]
    version = "1"

    def __init__(self, **config):
        self.config = SapiensConfig(**config)
        self.path = require_file(self.config.checkpoint, f"Sapiens {self.task} weights", FETCH)
        self.num_gpus = self.config.num_gpus
        self.runner = None

    def setup(self) -> None:
        import torch

        from preprocess.models.device import log_setup_memory, memory_mark, resolve_device, resolve_dtype
        from preprocess.models.sapiens_infer import TopdownRunner, speed_up_head
        from preprocess.models.sapiens_load import build_from_checkpoint, load_torchscript

        device = resolve_device(self.config.device)
        before = memory_mark(device)
        compiled = False
        if is_torchscript(self.path):
            model, dtype, autocast = load_torchscript(self.path, device), torch.float32, False
        else:
            dtype, autocast = resolve_dtype(self.config.dtype), True
            # weights stored in the compute dtype: autocast then has no per-call weight casts to do
            model = build_from_checkpoint(self.path, self.task, self.config.input_hw, self.config.num_heads).to(device, dtype)
            compiled = self.config.compile_head and device.type == "cuda"
            model = speed_up_head(model, channels_last=compiled, compile=compiled)
        self.runner = TopdownRunner(model, self.config.input_hw, device, dtype, self.config.batch_size, autocast,
                                    fixed_batch=compiled)
        log_setup_memory(f"{self.name} ({self.path.name})", device, before)


class SapiensPose(_SapiensBase):
    """Keypoints [T, J, 3] per clip; frames without a person mask get score 0."""

    role, name, task = "pose", "sapiens", "pose"

    def __call__(self, clips: list[Clip], segmentations: list[Segmentation], **_) -> list[Pose | AnnotationError]:
        return self._each(clips, segmentations, self._one)

    def _one(self, clip: Clip, seg: Segmentation) -> Pose:
        return topdown_pose(self.runner, clip, seg, self.config.format, self.path.name)


class SapiensDepth(_SapiensBase):
    """Depth [T, Hd, Wd] per clip on the person mask, NaN elsewhere."""

    role, name, task = "depth", "sapiens", "depth"

    def __call__(self, clips: list[Clip], segmentations: list[Segmentation], **_) -> list[np.ndarray | AnnotationError]:
        return self._each(clips, segmentations, self._one)

    def _one(self, clip: Clip, seg: Segmentation) -> np.ndarray:
        return topdown_depth(self.runner, clip, seg, self.config.depth_scale)
