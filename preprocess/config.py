"""Typed configuration of the preprocessing job: one dataclass per stage, one for the whole run.

Every config validates itself in ``__post_init__`` so a wrong value fails at start, before a
single video is read. :func:`apply_overrides` takes ``section.field=value`` strings (the CLI's
``--set``), parsing values as YAML scalars.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from dataset.config_io import from_dict as config_from_dict
from dataset.config_io import load_config

VIDEO_EXTENSIONS = (".mp4", ".mov", ".mkv", ".webm", ".avi", ".m4v", ".mpg", ".mpeg", ".flv", ".wmv", ".ts")


def _positive(name: str, value: float | None, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if value is None or not value > 0:
        raise ValueError(f"{name} must be > 0, got {value}")


@dataclass
class ProbeConfig:
    timeout_s: float = 60.0
    """Seconds one probe may take before its process is killed (reason ``decode_timeout``)."""
    max_pixels: int = 3840 * 2160
    """Videos with more pixels per frame are skipped (``resolution_too_large``)."""
    num_cpus: float = 0.25
    """CPUs Ray reserves per probe actor."""
    concurrency: int = 1
    """Probe actors."""

    def __post_init__(self) -> None:
        _positive("probe.timeout_s", self.timeout_s)
        _positive("probe.max_pixels", self.max_pixels)
        _positive("probe.num_cpus", self.num_cpus)
        _positive("probe.concurrency", self.concurrency)


@dataclass
class ClipConfig:
    target_fps: float | None = 15.0
    """Clip frame rate; sources slower than this keep their own rate (never upsampled). None keeps the source rate."""
    clip_frames: int = 64
    """Frames per clip at the target rate; clips do not overlap."""
    min_frames: int = 16
    """Shorter leftovers (end of a shot or of the video) are dropped."""
    short_side: int | None = 512
    """Resize so the short side has this many pixels (never upscaled). None keeps the size."""
    cut_threshold: float = 0.25
    """Mean absolute difference (0..1) of 32x32 grey thumbnails above which a frame starts a new shot."""
    max_clips_per_video: int = 1000
    """Decoding stops after this many clips of one video."""
    timeout_s: float = 900.0
    """Seconds decoding and re-encoding one video may take before its process is killed."""
    crf: int = 18
    """x264 quality of the re-encoded clips."""
    num_cpus: float = 1.0
    """CPUs Ray reserves per clip actor (the defaults of all stages add up to 2: a laptop runs them all)."""
    concurrency: int = 1
    """Clip actors: raise it with the cores (decoding and re-encoding are the CPU-heavy part)."""

    def __post_init__(self) -> None:
        _positive("clips.target_fps", self.target_fps, allow_none=True)
        _positive("clips.clip_frames", self.clip_frames)
        _positive("clips.min_frames", self.min_frames)
        _positive("clips.short_side", self.short_side, allow_none=True)
        if self.min_frames > self.clip_frames:
            raise ValueError(f"clips.min_frames ({self.min_frames}) exceeds clips.clip_frames ({self.clip_frames})")
        if not 0 < self.cut_threshold <= 1:
            raise ValueError(f"clips.cut_threshold must be in (0, 1], got {self.cut_threshold}")
        for name in ("max_clips_per_video", "timeout_s", "num_cpus", "concurrency"):
            _positive(f"clips.{name}", getattr(self, name))


@dataclass
class AnnotateConfig:
    localise: str = "oracle"
    segment: str = "oracle"
    pose: str = "oracle"
    depth: str = "oracle"
    backend_config: dict[str, dict] = field(default_factory=dict)
    """Per role, keyword arguments of its backend (weights paths, boxes file, thresholds)."""
    depth_short_side: int | None = 256
    """Depth is stored with its short side at most this (nearest neighbour, NaN kept); the
    training pipeline resizes it. None stores it at the backend's size."""
    batch_size: int = 4
    """Clips per actor call; GPU backends batch across them."""
    num_gpus: float = 0.0
    """GPUs per annotate actor (fractional allowed); keep 0 on machines without GPUs."""
    num_cpus: float = 0.5
    concurrency: int = 1
    """Annotate actors (one model copy each)."""
    localise_concurrency: int = 0
    """0: each annotate actor localises its own clips, with its own copy of the localise model.
    N >= 1: localisation is a stage of its own, N actors between clips and annotate, so that one
    VLM serves the annotate actors of a GPU (a 7B VLM holds about 16 GiB) and batches the
    keyframes of ``localise_batch_size`` clips per call. Annotate then reads the boxes it wrote."""
    localise_batch_size: int = 8
    """Clips per localise actor call (with ``localise_concurrency`` >= 1)."""
    localise_num_gpus: float = 0.0
    """GPUs per localise actor (fractional allowed; with ``localise_concurrency`` >= 1)."""
    localise_num_cpus: float = 0.5

    def roles(self) -> dict[str, str]:
        return {"localise": self.localise, "segment": self.segment, "pose": self.pose, "depth": self.depth}

    def __post_init__(self) -> None:
        unknown = set(self.backend_config) - set(self.roles())
        if unknown:
            raise ValueError(f"annotate.backend_config has unknown roles {sorted(unknown)}")
        _positive("annotate.batch_size", self.batch_size)
        _positive("annotate.depth_short_side", self.depth_short_side, allow_none=True)
        _positive("annotate.num_cpus", self.num_cpus)
        _positive("annotate.concurrency", self.concurrency)
        if self.num_gpus < 0:
            raise ValueError(f"annotate.num_gpus must be >= 0, got {self.num_gpus}")
        if self.localise_concurrency < 0:
            raise ValueError(f"annotate.localise_concurrency must be >= 0, got {self.localise_concurrency}")
        _positive("annotate.localise_batch_size", self.localise_batch_size)
        _positive("annotate.localise_num_cpus", self.localise_num_cpus)
        if self.localise_num_gpus < 0:
            raise ValueError(f"annotate.localise_num_gpus must be >= 0, got {self.localise_num_gpus}")

    @property
    def separate_localise(self) -> bool:
        """Whether localisation runs as its own stage before annotate."""
        return self.localise_concurrency > 0


@dataclass
class QualifyConfig:
    min_person_area: float = 0.01
    """Mean fraction of the frame the character covers, over frames where it is visible."""
    min_visible_frames: float = 0.8
    """Fraction of frames in which the character must be visible."""
    min_keypoint_score: float = 0.3
    """Mean keypoint score (over visible frames) below which a clip is rejected."""
    min_mask_stability: float = 0.5
    """Mean smaller/larger ratio of consecutive mask areas below which a clip is rejected (flicker)."""
    min_main_component: float = 0.6
    """Share of the character mask in its largest connected part (one main character)."""
    num_cpus: float = 0.25

    def __post_init__(self) -> None:
        for name in ("min_person_area", "min_visible_frames", "min_keypoint_score", "min_mask_stability",
                     "min_main_component"):
            value = getattr(self, name)
            if not 0 <= value <= 1:
                raise ValueError(f"qualify.{name} must be in [0, 1], got {value}")
        _positive("qualify.num_cpus", self.num_cpus)


@dataclass
class WriteConfig:
    max_shard_bytes: int = 1 << 30
    """Shard tar size cap; one video's clips never straddle two shards."""
    flush_every_s: float = 60.0
    """Videos without clips are recorded in the ledger at least this often."""

    def __post_init__(self) -> None:
        _positive("write.max_shard_bytes", self.max_shard_bytes)
        _positive("write.flush_every_s", self.flush_every_s)


@dataclass
class RayConfig:
    address: str | None = None
    """Ray cluster to join (``auto`` or ``host:port``); None starts a local one."""
    num_cpus: int | None = None
    """CPUs of a local cluster; None uses the machine's cores."""
    num_gpus: int | None = None
    """GPUs of a local cluster; None lets Ray detect them."""
    progress_every_s: float = 10.0
    """Seconds between progress lines."""


@dataclass
class PreprocessConfig:
    probe: ProbeConfig = field(default_factory=ProbeConfig)
    clips: ClipConfig = field(default_factory=ClipConfig)
    annotate: AnnotateConfig = field(default_factory=AnnotateConfig)
    qualify: QualifyConfig = field(default_factory=QualifyConfig)
    write: WriteConfig = field(default_factory=WriteConfig)
    ray: RayConfig = field(default_factory=RayConfig)
    extensions: tuple[str, ...] = VIDEO_EXTENSIONS
    """File endings a folder or glob input treats as videos (case-insensitive)."""
    retry_failed: bool = False
    """On a rerun, try again the inputs that ended ``failed`` (timeouts on a loaded machine, a
    file that was missing); ``skipped`` ones stay done."""

    def __post_init__(self) -> None:
        self.extensions = tuple(e.lower() if e.startswith(".") else f".{e.lower()}" for e in self.extensions)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def apply_overrides(config: PreprocessConfig, overrides: list[str]) -> PreprocessConfig:
    """Apply ``a.b=value`` strings to a copy of ``config`` and validate the result."""
    return load_config(PreprocessConfig, config, None, overrides)


def from_dict(data: dict) -> PreprocessConfig:
    """Nested dict (YAML) -> validated PreprocessConfig; unknown keys raise."""
    return config_from_dict(PreprocessConfig, data)
