"""Typed configuration of the training-sample pipeline (what one sample looks like and how it is randomised)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class SampleConfig:
    """How a clip becomes a training sample. Validated on construction."""

    mode: str = "video"
    """``video`` (stage 2: ``num_frames`` frames) or ``image`` (stage 1: one target frame)."""
    num_frames: int = 16
    """Target frames per sample in video mode (the paper trains on 16)."""
    stride: int = 4
    """Frame stride in the clip; shrunk to fit clips that are too short for it."""
    height: int = 512
    width: int = 512
    train: bool = True
    """Randomise (crop zoom/jitter, scale augmentation, k_h/k_w); False gives the inference rules."""
    crop_zoom: tuple[float, float] = (0.8, 1.0)
    """Crop height as a fraction of the largest window that fits (training only)."""
    crop_jitter: float = 0.5
    """Shift of the crop centre, as a fraction of the free room around the character."""
    crop_margin: float = 0.1
    scale_prob: float = 0.5
    """Probability of the random scale augmentation of character + objects."""
    scale_range: tuple[float, float] = (0.75, 1.25)
    max_blocks: int = 32
    """k_h and k_w of the shape-agnostic mask are drawn from 1..max_blocks in training."""
    min_score: float = 0.3
    """Keypoints scoring below this are not drawn."""
    reference_margin: float = 0.1

    def __post_init__(self) -> None:
        if self.mode not in ("video", "image"):
            raise ValueError(f"mode must be 'video' or 'image', got {self.mode!r}")
        if self.num_frames < 1 or self.stride < 1:
            raise ValueError("num_frames and stride must be >= 1")
        if self.height < 8 or self.width < 8 or self.height % 8 or self.width % 8:
            raise ValueError(f"height and width must be multiples of 8 (VAE), got {self.height}x{self.width}")
        lo, hi = self.crop_zoom
        if not 0 < lo <= hi <= 1:
            raise ValueError(f"crop_zoom must satisfy 0 < lo <= hi <= 1, got {self.crop_zoom}")
        s_lo, s_hi = self.scale_range
        if not 0 < s_lo <= s_hi:
            raise ValueError(f"scale_range must satisfy 0 < lo <= hi, got {self.scale_range}")
        if not 0 <= self.scale_prob <= 1 or not 0 <= self.crop_jitter <= 1:
            raise ValueError("scale_prob and crop_jitter must lie in [0, 1]")
        if self.max_blocks < 1:
            raise ValueError("max_blocks must be >= 1")

    @property
    def frames_per_sample(self) -> int:
        return 1 if self.mode == "image" else self.num_frames

    @property
    def size(self) -> tuple[int, int]:
        return self.height, self.width
