"""What a synthetic crawl contains: the typed config and the vocabulary it chooses from.

A crawl is a numbered list of videos. Video ``index`` is drawn from its own random stream,
seeded by ``(seed, index)``, so any one video can be rendered alone, in any order, on any worker,
and comes out the same; changing ``num_videos`` never changes the videos already in the crawl.
"""

from __future__ import annotations

from dataclasses import dataclass

MOTIONS = ("walk", "wave", "dance", "turn", "squat")
HELD_OBJECTS = ("ball", "cup", "box")  # move with the hands
SCENE_OBJECTS = ("table", "chair")  # stand still: the table in front, the chair behind
OBJECTS = HELD_OBJECTS + SCENE_OBJECTS
BODIES = ("thin", "average", "broad")
CLOTHING = ("trousers", "shorts", "skirt", "wide_skirt")


@dataclass
class SynthConfig:
    """A synthetic crawl. Sizes in pixels; every video has the same size, length and fps."""

    seed: int = 0
    """Crawl seed: with the video index it fixes everything about a video."""
    num_videos: int = 8
    """How many videos the crawl holds (indices 0..num_videos-1)."""
    height: int = 256
    """Frame height in pixels (odd sizes are fine)."""
    width: int = 256
    """Frame width in pixels (odd sizes are fine)."""
    num_frames: int = 24
    """Frames per video (1 gives a still)."""
    fps: float = 8.0
    """Frame rate; motions are defined in seconds, so fps changes sampling, not speed."""
    motions: tuple[str, ...] = MOTIONS
    """Motions to draw from; video ``i`` gets ``motions[i % len(motions)]`` so small crawls cover all."""
    objects: tuple[str, ...] = OBJECTS
    """Objects that may appear; an empty tuple gives a character alone in a room."""
    object_rate: float = 0.75
    """Chance that a video has a held object, and (separately) a table or chair."""
    name_prefix: str = "synth"
    """Video names are ``{name_prefix}_s{seed}_{index:05d}``."""

    def __post_init__(self) -> None:
        self.motions = tuple(self.motions)
        self.objects = tuple(self.objects)
        if self.seed < 0:
            raise ValueError(f"seed must be >= 0, got {self.seed}")
        if self.num_videos < 0:
            raise ValueError(f"num_videos must be >= 0, got {self.num_videos}")
        if self.height < 16 or self.width < 16:
            raise ValueError(f"frames must be at least 16x16 pixels, got {self.height}x{self.width}")
        if self.num_frames < 1:
            raise ValueError(f"num_frames must be >= 1, got {self.num_frames}")
        if not self.fps > 0:
            raise ValueError(f"fps must be > 0, got {self.fps}")
        if not self.motions:
            raise ValueError("motions must name at least one motion")
        _check_subset("motions", self.motions, MOTIONS)
        _check_subset("objects", self.objects, OBJECTS)
        if not 0.0 <= self.object_rate <= 1.0:
            raise ValueError(f"object_rate must be in [0, 1], got {self.object_rate}")
        if not self.name_prefix or any(c in self.name_prefix for c in "./\\ "):
            raise ValueError(f"name_prefix {self.name_prefix!r} must be non-empty, without '.', '/', spaces")

    def video_name(self, index: int) -> str:
        return f"{self.name_prefix}_s{self.seed}_{index:05d}"


def _check_subset(field: str, values: tuple[str, ...], known: tuple[str, ...]) -> None:
    unknown = [v for v in values if v not in known]
    if unknown:
        raise ValueError(f"{field}: unknown {unknown}; known: {list(known)}")
