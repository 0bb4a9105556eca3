"""Sapiens2 pose and depth backends through transformers (``Sapiens2ForPoseEstimation`` and the
z channel of ``Sapiens2ForPointmapEstimation``), with the same top-down crops, on-device
pre/post-processing and outputs as :mod:`.sapiens`.

Weights are a local transformers folder (``config.json`` + safetensors). Inputs use Sapiens2's
ImageNet normalisation. The pointmap is in camera space, so its z (distance along the optical
axis) is depth with larger = farther, as the shard schema wants.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .base import AnnotationError, Clip, Pose, Segmentation, require_file
from .sapiens import KNOWN_FORMAT_SIZES, RunnerBackend, topdown_depth, topdown_pose

FETCH = "a Sapiens2 model folder (facebook/sapiens2-pose-* or facebook/sapiens2-pointmap-* from https://huggingface.co)"
IMAGENET_MEAN = (0.485 * 255, 0.456 * 255, 0.406 * 255)
IMAGENET_STD = (0.229 * 255, 0.224 * 255, 0.225 * 255)


@dataclass
class Sapiens2Config:
    model: str = ""  # local transformers folder
    format: str = "goliath_308"
    input_hw: tuple[int, int] = (1024, 768)
    device: str = "auto"
    dtype: str = "bfloat16"
    batch_size: int = 16
    depth_scale: float = 0.5
    num_gpus: float = 0.0

    def __post_init__(self) -> None:
        self.input_hw = tuple(int(v) for v in self.input_hw)
        if self.format not in KNOWN_FORMAT_SIZES:
            raise ValueError(f"keypoint format {self.format!r} is not one of {sorted(KNOWN_FORMAT_SIZES)}")
        if self.batch_size < 1 or not 0 < self.depth_scale <= 1:
            raise ValueError("batch_size must be >= 1 and depth_scale in (0, 1]")


class _Sapiens2Base(RunnerBackend):
    model_class: str
    output: str
    version = "1"

    def __init__(self, **config):
        self.config = Sapiens2Config(**config)
        folder = require_file(self.config.model, f"Sapiens2 {self.role} weights", FETCH)
        require_file(Path(folder) / "config.json", f"Sapiens2 {self.role} config", FETCH)
        self.num_gpus = self.config.num_gpus
        self.runner = None

    def setup(self) -> None:
        import transformers

        from preprocess.models.device import log_setup_memory, memory_mark, resolve_device, resolve_dtype
        from preprocess.models.sapiens_infer import TopdownRunner

        device = resolve_device(self.config.device)
        before = memory_mark(device)
        model = getattr(transformers, self.model_class).from_pretrained(self.config.model).to(device).eval()
        output = self.output

        def forward(x):
            return getattr(model(pixel_values=x), output)

        self.runner = TopdownRunner(forward, self.config.input_hw, device, resolve_dtype(self.config.dtype),
                                    self.config.batch_size, mean=IMAGENET_MEAN, std=IMAGENET_STD)
        log_setup_memory(f"{self.name} {self.role} ({Path(self.config.model).name})", device, before)



class Sapiens2Pose(_Sapiens2Base):
    role, name = "pose", "sapiens2"
    model_class, output = "Sapiens2ForPoseEstimation", "heatmaps"

    def __call__(self, clips: list[Clip], segmentations: list[Segmentation], **_) -> list[Pose | AnnotationError]:
        return self._each(clips, segmentations, self._one)

    def _one(self, clip: Clip, seg: Segmentation) -> Pose:
        return topdown_pose(self.runner, clip, seg, self.config.format, Path(self.config.model).name)


class Sapiens2Depth(_Sapiens2Base):
    role, name = "depth", "sapiens2"
    model_class, output = "Sapiens2ForPointmapEstimation", "pointmaps"

    def __call__(self, clips: list[Clip], segmentations: list[Segmentation], **_) -> list[np.ndarray | AnnotationError]:
        return self._each(clips, segmentations, self._one)

    def _one(self, clip: Clip, seg: Segmentation) -> np.ndarray:
        return topdown_depth(self.runner, clip, seg, self.config.depth_scale, channel=2)  # pointmap x, y, z
