"""Keypoint formats: joint names and the limbs drawn between them, one entry per annotator format.

A shard's ``pose.npz`` stores keypoints in the annotator's native format together with its name;
the training pipeline looks the format up here to render skeleton images. Every renderer and
annotator refers to formats only through :func:`get_format`.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class KeypointFormat:
    name: str
    joints: tuple[str, ...]
    limbs: tuple[tuple[int, int], ...]  # pairs of joint indices drawn as bones

    @property
    def num_joints(self) -> int:
        return len(self.joints)

    def index(self, joint: str) -> int:
        return self.joints.index(joint)

    def __post_init__(self) -> None:
        n = len(self.joints)
        bad = [limb for limb in self.limbs if not (0 <= limb[0] < n and 0 <= limb[1] < n)]
        if bad:
            raise ValueError(f"format {self.name}: limbs {bad} name joints outside 0..{n - 1}")


def _limbs(joints: tuple[str, ...], pairs: list[tuple[str, str]]) -> tuple[tuple[int, int], ...]:
    return tuple((joints.index(a), joints.index(b)) for a, b in pairs)


# OpenPose BODY-18 (the skeleton Animate Anyone's pose guider draws). The synthetic world uses it.
_OPENPOSE_18 = (
    "nose", "neck",
    "right_shoulder", "right_elbow", "right_wrist",
    "left_shoulder", "left_elbow", "left_wrist",
    "right_hip", "right_knee", "right_ankle",
    "left_hip", "left_knee", "left_ankle",
    "right_eye", "left_eye", "right_ear", "left_ear",
)  # fmt: skip
OPENPOSE_18 = KeypointFormat(
    "openpose_18",
    _OPENPOSE_18,
    _limbs(
        _OPENPOSE_18,
        [
            ("neck", "right_shoulder"), ("neck", "left_shoulder"),
            ("right_shoulder", "right_elbow"), ("right_elbow", "right_wrist"),
            ("left_shoulder", "left_elbow"), ("left_elbow", "left_wrist"),
            ("neck", "right_hip"), ("right_hip", "right_knee"), ("right_knee", "right_ankle"),
            ("neck", "left_hip"), ("left_hip", "left_knee"), ("left_knee", "left_ankle"),
            ("neck", "nose"), ("nose", "right_eye"), ("right_eye", "right_ear"),
            ("nose", "left_eye"), ("left_eye", "left_ear"),
        ],
    ),
)  # fmt: skip

_COCO_17 = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
    "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
)  # fmt: skip
COCO_17 = KeypointFormat(
    "coco_17",
    _COCO_17,
    _limbs(
        _COCO_17,
        [
            ("left_ankle", "left_knee"), ("left_knee", "left_hip"),
            ("right_ankle", "right_knee"), ("right_knee", "right_hip"),
            ("left_hip", "right_hip"), ("left_shoulder", "left_hip"), ("right_shoulder", "right_hip"),
            ("left_shoulder", "right_shoulder"), ("left_shoulder", "left_elbow"),
            ("right_shoulder", "right_elbow"), ("left_elbow", "left_wrist"),
            ("right_elbow", "right_wrist"), ("left_eye", "right_eye"), ("nose", "left_eye"),
            ("nose", "right_eye"), ("left_eye", "left_ear"), ("right_eye", "right_ear"),
        ],
    ),
)  # fmt: skip

FORMATS: dict[str, KeypointFormat] = {f.name: f for f in (OPENPOSE_18, COCO_17)}


def register_format(fmt: KeypointFormat) -> KeypointFormat:
    if fmt.name in FORMATS and FORMATS[fmt.name] != fmt:
        raise ValueError(f"keypoint format {fmt.name!r} is already registered differently")
    FORMATS[fmt.name] = fmt
    return fmt


def get_format(name: str) -> KeypointFormat:
    try:
        return FORMATS[name]
    except KeyError:
        raise KeyError(f"unknown keypoint format {name!r}; known: {sorted(FORMATS)}") from None
