"""Keypoint formats: joint names and the limbs drawn between them, one entry per annotator format.

A shard's ``pose.npz`` stores keypoints in the annotator's native format together with its name;
the training pipeline looks the format up here to render skeleton images. Every renderer and
annotator refers to formats only through :func:`get_format`.

Registered: ``openpose_18`` (the synthetic world), ``coco_17``, ``coco_wholebody_133``,
``goliath_308`` (Sapiens; names and channel order as its pose models output them) and
``mediapipe_33`` (MediaPipe Pose landmarks with its ``POSE_CONNECTIONS``).
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

def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


_FINGERS = ("thumb", "forefinger", "middle_finger", "ring_finger", "pinky_finger")

# COCO-WholeBody (Jin et al. 2020), the order of mmpose / Sapiens' 133-keypoint models:
# 0-16 COCO body, 17-22 feet, 23-90 face-0..face-67 (the 68 iBUG landmarks),
# 91-111 left hand (root = wrist, then 4 joints per finger from palm to tip), 112-132 right hand.
_COCO_WHOLEBODY_133 = (
    _COCO_17
    + _words("left_big_toe left_small_toe left_heel right_big_toe right_small_toe right_heel")
    + tuple(f"face-{i}" for i in range(68))
    + tuple(
        name
        for side in ("left", "right")
        for name in (f"{side}_hand_root",) + tuple(f"{side}_{f}{j}" for f in _FINGERS for j in range(1, 5))
    )
)


def _wholebody_hand_limbs(side: str) -> list[tuple[str, str]]:
    pairs = []
    for finger in _FINGERS:
        chain = [f"{side}_hand_root"] + [f"{side}_{finger}{j}" for j in range(1, 5)]
        pairs += list(zip(chain[:-1], chain[1:]))
    return pairs


# Body links as mmpose draws COCO (with eye-eye and ear-shoulder), then feet, then both hands.
_COCO_BODY_LINKS = [
    ("left_ankle", "left_knee"), ("left_knee", "left_hip"), ("right_ankle", "right_knee"),
    ("right_knee", "right_hip"), ("left_hip", "right_hip"), ("left_shoulder", "left_hip"),
    ("right_shoulder", "right_hip"), ("left_shoulder", "right_shoulder"),
    ("left_shoulder", "left_elbow"), ("right_shoulder", "right_elbow"),
    ("left_elbow", "left_wrist"), ("right_elbow", "right_wrist"), ("left_eye", "right_eye"),
    ("nose", "left_eye"), ("nose", "right_eye"), ("left_eye", "left_ear"),
    ("right_eye", "right_ear"), ("left_ear", "left_shoulder"), ("right_ear", "right_shoulder"),
]  # fmt: skip
_FEET_LINKS = [
    ("left_ankle", "left_big_toe"), ("left_ankle", "left_small_toe"), ("left_ankle", "left_heel"),
    ("right_ankle", "right_big_toe"), ("right_ankle", "right_small_toe"), ("right_ankle", "right_heel"),
]  # fmt: skip
COCO_WHOLEBODY_133 = KeypointFormat(
    "coco_wholebody_133",
    _COCO_WHOLEBODY_133,
    _limbs(
        _COCO_WHOLEBODY_133,
        _COCO_BODY_LINKS + _FEET_LINKS + _wholebody_hand_limbs("left") + _wholebody_hand_limbs("right"),
    ),
)


def _goliath_hand(side: str) -> tuple[str, ...]:
    # Sapiens orders each finger tip-first: ``*4`` is the tip, ``*_third_joint`` the knuckle.
    names = tuple(
        n for f in _FINGERS for n in (f"{side}_{f}4", f"{side}_{f}3", f"{side}_{f}2", f"{side}_{f}_third_joint")
    )
    return names + (f"{side}_wrist",)


def _eye_lines(s: str, lash: str, lid: str, crease: str | None, up: str) -> tuple[str, ...]:
    out = [f"{s}_{e}_of_{up}_lash_line" for e in ("inner_end", "outer_end", "centerpoint")]
    out += [f"{s}_midpoint_{i}_of_{up}_lash_line" for i in lash.split()]
    out += [f"{s}_outer_end_of_{up}_eyelid_line"]
    out += [f"{s}_{'centerpoint' if i == 'c' else 'midpoint_' + i}_of_{up}_eyelid_line" for i in lid.split()]
    if crease:
        out += [f"{s}_{'centerpoint' if i == 'c' else 'midpoint_' + i}_of_{up}_crease_line" for i in crease.split()]
    return tuple(out)


def _ear(s: str, helix_first: str, helix_last: str) -> tuple[str, ...]:
    return (
        _words(f"{s}_top_end_of_inferior_crus {s}_top_end_of_superior_crus {s}_start_of_antihelix {s}_end_of_antihelix")
        + _words(f"{s}_midpoint_1_of_antihelix {s}_midpoint_1_of_inferior_crus")
        + _words(f"{s}_midpoint_2_of_antihelix {s}_midpoint_3_of_antihelix")
        + (f"{s}_point_1_of_inner_helix", f"{s}_point_{helix_first}_of_inner_helix")
        + tuple(f"{s}_point_{i}_of_inner_helix" for i in range(3, 8))
        + _words(f"{s}_highest_point_of_antitragus {s}_bottom_point_of_tragus {s}_protruding_point_of_tragus")
        + _words(f"{s}_top_point_of_tragus {s}_start_point_of_crus_of_helix {s}_deepest_point_of_concha")
        + _words(f"{s}_tip_of_ear_lobe {s}_midpoint_between_22_15 {s}_bottom_connecting_point_of_ear_lobe")
        + (f"{s}_top_connecting_point_of_helix", f"{s}_point_{helix_last}_of_inner_helix")
    )


def _circle(s: str, part: str) -> tuple[str, ...]:
    ring = "3 midpoint_1 12 midpoint_4 9 midpoint_3 6 midpoint_2".split()
    return (f"{s}_center_of_{part}",) + tuple(f"{s}_border_of_{part}_{r}" for r in ring)


def _lips(where: str) -> tuple[str, ...]:
    return tuple(f"midpoint_{i}_of_{v}_{where}_lip" for v in ("upper", "lower") for i in (1, 2)) + tuple(
        f"midpoint_{i}_of_{v}_{where}_lip" for v in ("upper", "lower") for i in (3, 4, 5, 6)
    )


# Goliath-308, the keypoints of Sapiens' pose models, in the order of their output channels.
# 0-14 body (COCO order without wrists), 15-20 feet, 21-41 right hand (wrist last), 42-62 left
# hand, 63-69 olecranon / cubital fossa / acromion (left, right) and neck, 70-307 face:
# nose bridge and chin, eyebrows, upper and lower eye lines, nose, lips, ears, irises, pupils.
_GOLIATH_308 = (
    _words("nose left_eye right_eye left_ear right_ear left_shoulder right_shoulder left_elbow right_elbow")
    + _words("left_hip right_hip left_knee right_knee left_ankle right_ankle")
    + _words("left_big_toe left_small_toe left_heel right_big_toe right_small_toe right_heel")
    + _goliath_hand("right")
    + _goliath_hand("left")
    + _words("left_olecranon right_olecranon left_cubital_fossa right_cubital_fossa left_acromion right_acromion neck")
    + _words("center_of_glabella center_of_nose_root tip_of_nose_bridge midpoint_1_of_nose_bridge")
    + _words("midpoint_2_of_nose_bridge midpoint_3_of_nose_bridge center_of_labiomental_groove tip_of_chin")
    + tuple(
        n
        for s in ("r", "l")
        for n in _words(
            f"upper_startpoint_of_{s}_eyebrow lower_startpoint_of_{s}_eyebrow end_of_{s}_eyebrow "
            f"upper_midpoint_1_of_{s}_eyebrow lower_midpoint_1_of_{s}_eyebrow upper_midpoint_2_of_{s}_eyebrow "
            f"upper_midpoint_3_of_{s}_eyebrow lower_midpoint_2_of_{s}_eyebrow lower_midpoint_3_of_{s}_eyebrow"
        )
    )
    + _eye_lines("l", "2 1 6 5 4 3", "6 2 5 c 4 1 3", "6 2 5 c 4 1 3", "upper")
    + _eye_lines("r", "1 2 3 4 5 6", "3 1 4 c 5 2 6", "3 1 4 c 5 2 6", "upper")
    + _eye_lines("l", "2 1 6 5 4 3", "6 2 5 c 4 1 3", None, "lower")
    + _eye_lines("r", "1 2 3 4 5 6", "3 1 4 c 5 2 6", None, "lower")
    + _words("tip_of_nose bottom_center_of_nose r_outer_corner_of_nose l_outer_corner_of_nose")
    + _words("inner_corner_of_r_nostril outer_corner_of_r_nostril upper_corner_of_r_nostril")
    + _words("inner_corner_of_l_nostril outer_corner_of_l_nostril upper_corner_of_l_nostril")
    + _words("r_outer_corner_of_mouth l_outer_corner_of_mouth center_of_cupid_bow center_of_lower_outer_lip")
    + _lips("outer")
    + _words("r_inner_corner_of_mouth l_inner_corner_of_mouth center_of_upper_inner_lip center_of_lower_inner_lip")
    + _lips("inner")
    + _ear("l", "2", "8")
    + _ear("r", "8", "2")
    + _circle("l", "iris") + _circle("r", "iris") + _circle("l", "pupil") + _circle("r", "pupil")
)


def _goliath_hand_limbs(side: str) -> list[tuple[str, str]]:
    pairs = []
    for finger in _FINGERS:
        chain = [f"{side}_wrist", f"{side}_{finger}_third_joint"] + [f"{side}_{finger}{j}" for j in (2, 3, 4)]
        pairs += list(zip(chain[:-1], chain[1:]))
    return pairs


# The links Sapiens draws: COCO body (elbow to the hand's wrist), feet, then the hands. The
# face keypoints and the extra arm points carry no links.
GOLIATH_308 = KeypointFormat(
    "goliath_308",
    _GOLIATH_308,
    _limbs(_GOLIATH_308, _COCO_BODY_LINKS + _FEET_LINKS + _goliath_hand_limbs("left") + _goliath_hand_limbs("right")),
)

# MediaPipe Pose landmarks (BlazePose, 33) and mediapipe.solutions.pose.POSE_CONNECTIONS.
_MEDIAPIPE_33 = _words(
    "nose left_eye_inner left_eye left_eye_outer right_eye_inner right_eye right_eye_outer "
    "left_ear right_ear mouth_left mouth_right left_shoulder right_shoulder left_elbow right_elbow "
    "left_wrist right_wrist left_pinky right_pinky left_index right_index left_thumb right_thumb "
    "left_hip right_hip left_knee right_knee left_ankle right_ankle left_heel right_heel "
    "left_foot_index right_foot_index"
)
MEDIAPIPE_33 = KeypointFormat(
    "mediapipe_33",
    _MEDIAPIPE_33,
    (
        (0, 1), (1, 2), (2, 3), (3, 7), (0, 4), (4, 5), (5, 6), (6, 8), (9, 10),
        (11, 12), (11, 13), (13, 15), (15, 17), (15, 19), (15, 21), (17, 19),
        (12, 14), (14, 16), (16, 18), (16, 20), (16, 22), (18, 20),
        (11, 23), (12, 24), (23, 24), (23, 25), (24, 26), (25, 27), (26, 28),
        (27, 29), (28, 30), (29, 31), (30, 32), (27, 31), (28, 32),
    ),
)  # fmt: skip

FORMATS: dict[str, KeypointFormat] = {
    f.name: f for f in (OPENPOSE_18, COCO_17, COCO_WHOLEBODY_133, GOLIATH_308, MEDIAPIPE_33)
}


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
