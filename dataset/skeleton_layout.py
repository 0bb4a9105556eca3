"""A common body layout for drawing skeletons from any keypoint format.

Every format is mapped onto the OpenPose BODY-18 joints, so a skeleton image has the same limbs
and the same limb colours whichever annotator produced it (the pose guider should not have to
learn five colour codes). A layout joint is the mean of one or more source joints (OpenPose's
neck is the mid-shoulder point, which COCO-style formats lack). Hand and foot links of the
format, which BODY-18 has no place for, are kept as extra limbs coloured by body side.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from .keypoint_formats import OPENPOSE_18, KeypointFormat, get_format

# OpenPose's limb colours (RGB), in the order of OPENPOSE_18.limbs.
LIMB_COLOURS = (
    (255, 0, 0), (255, 85, 0), (255, 170, 0), (255, 255, 0), (170, 255, 0), (85, 255, 0),
    (0, 255, 0), (0, 255, 85), (0, 255, 170), (0, 255, 255), (0, 170, 255), (0, 85, 255),
    (0, 0, 255), (85, 0, 255), (170, 0, 255), (255, 0, 255), (255, 0, 170),
)  # fmt: skip
EXTRA_COLOURS = {"left": (255, 255, 255), "right": (170, 170, 170)}
_EXTRA_WORDS = ("thumb", "finger", "pinky", "index", "hand_root", "toe", "heel", "foot_index")


@dataclass(frozen=True)
class Layout:
    """How one format is drawn: BODY-18 joint -> source joint indices, plus extra limbs."""

    format: str
    sources: tuple[tuple[int, ...], ...]  # per BODY-18 joint; () when the format lacks it
    extras: tuple[tuple[int, int, tuple[int, int, int]], ...]  # (joint a, joint b, RGB)


def _sources(fmt: KeypointFormat, name: str) -> tuple[int, ...]:
    if name in fmt.joints:
        return (fmt.index(name),)
    if name == "neck" and {"left_shoulder", "right_shoulder"} <= set(fmt.joints):
        return fmt.index("left_shoulder"), fmt.index("right_shoulder")
    return ()


def _is_extra(name: str) -> bool:
    return any(word in name for word in _EXTRA_WORDS)


def _side(name: str) -> str:
    return "left" if name.startswith(("left", "l_")) else "right"


@lru_cache(maxsize=None)
def layout_for(format_name: str) -> Layout:
    fmt = get_format(format_name)
    sources = tuple(_sources(fmt, name) for name in OPENPOSE_18.joints)
    extras = tuple(
        (a, b, EXTRA_COLOURS[_side(fmt.joints[b])])
        for a, b in fmt.limbs
        if _is_extra(fmt.joints[a]) or _is_extra(fmt.joints[b])
    )
    return Layout(format_name, sources, extras)
