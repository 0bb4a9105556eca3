"""The synthetic character: body proportions, outfit, and forward kinematics to 3D joints.

A body is a handful of lengths and radii in metres (thin to broad, short to tall); a pose is a
few angles per limb. :func:`skeleton` turns them into named 3D joints in world coordinates (see
:mod:`dataset.synthetic.camera`), standing on the floor: whatever the legs do, the lowest foot
touches Y = 0, which gives walking its bob and squatting its drop for free.

Limb directions use two angles: ``a`` raises the limb sideways (abduction), ``f`` swings it
forward (flexion); (0, 0) hangs straight down.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from dataset.synthetic.config import BODIES, CLOTHING

SIDES = (("left", 1.0), ("right", -1.0))  # body +X is the character's left


@dataclass(frozen=True)
class BodyShape:
    build: str
    stature: float
    head_r: float
    neck_len: float
    torso_len: float
    shoulder_half: float
    waist_half: float
    chest_depth: float  # half thickness front to back
    hip_half: float
    upper_arm: float
    forearm: float
    arm_r: float
    hand_len: float
    hand_r: float
    thigh: float
    shin: float
    thigh_r: float
    shin_r: float
    foot_len: float
    foot_r: float


@dataclass(frozen=True)
class Outfit:
    clothing: str
    long_sleeves: bool
    skin: tuple[int, int, int]
    hair: tuple[int, int, int]
    shirt: tuple[int, int, int]
    bottom: tuple[int, int, int]
    shoes: tuple[int, int, int]
    long_hair: bool = False


@dataclass
class Pose:
    """Angles in radians; ``x`` is the root's world X in metres."""

    yaw: float = 0.0  # whole body about the vertical; 0 faces the camera
    x: float = 0.0
    lean: float = 0.0  # torso forward
    sway: float = 0.0  # torso sideways
    head_yaw: float = 0.0
    head_tilt: float = 0.0
    # (upper a, upper f, lower a, lower f) per limb
    arms: dict[str, tuple[float, float, float, float]] = field(
        default_factory=lambda: {"left": (0.12, 0.0, 0.1, 0.1), "right": (0.12, 0.0, 0.1, 0.1)}
    )
    legs: dict[str, tuple[float, float, float, float]] = field(
        default_factory=lambda: {"left": (0.04, 0.0, 0.02, 0.0), "right": (0.04, 0.0, 0.02, 0.0)}
    )


_SKIN = ((255, 224, 196), (234, 192, 155), (198, 145, 105), (141, 95, 65), (96, 62, 42))
_HAIR = ((30, 24, 20), (80, 50, 30), (150, 100, 50), (220, 190, 120), (120, 120, 125))


def random_colour(rng: np.random.Generator, sat=(0.35, 0.85), val=(0.35, 0.95)) -> tuple[int, int, int]:
    h, s, v = rng.uniform(0, 1), rng.uniform(*sat), rng.uniform(*val)
    rgb = np.clip(np.abs(((h * 6 + np.array([0, 4, 2])) % 6) - 3) - 1, 0, 1)
    return tuple(int(c) for c in np.round(255 * v * (1 - s + s * rgb)))


def sample_body(rng: np.random.Generator) -> BodyShape:
    build = str(rng.choice(BODIES))
    width = {"thin": 0.78, "average": 1.0, "broad": 1.3}[build] * rng.uniform(0.93, 1.07)
    h = rng.uniform(1.5, 1.9)
    return BodyShape(
        build=build, stature=h, head_r=0.066 * h * rng.uniform(0.95, 1.08), neck_len=0.035 * h,
        torso_len=0.30 * h, shoulder_half=0.115 * h * (0.85 + 0.15 * width),
        waist_half=0.085 * h * width, chest_depth=0.062 * h * width, hip_half=0.055 * h * width,
        upper_arm=0.175 * h, forearm=0.15 * h, arm_r=0.024 * h * width, hand_len=0.06 * h,
        hand_r=0.025 * h * (0.8 + 0.2 * width), thigh=0.24 * h, shin=0.24 * h, thigh_r=0.036 * h * width,
        shin_r=0.027 * h * width, foot_len=0.085 * h, foot_r=0.022 * h,
    )  # fmt: skip


def sample_outfit(rng: np.random.Generator) -> Outfit:
    return Outfit(
        clothing=str(rng.choice(CLOTHING)),
        long_sleeves=bool(rng.uniform() < 0.5),
        skin=_SKIN[rng.integers(len(_SKIN))],
        hair=_HAIR[rng.integers(len(_HAIR))],
        shirt=random_colour(rng),
        bottom=random_colour(rng, val=(0.2, 0.8)),
        shoes=random_colour(rng, sat=(0.0, 0.5), val=(0.1, 0.45)),
    )


def _rot_x(a: float) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    return np.array([[1, 0, 0], [0, c, -s], [0, s, c]])


def _rot_y(a: float) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])


def _rot_z(a: float) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])


def limb_dir(a: float, f: float, side: float) -> np.ndarray:
    """Unit direction of a limb raised sideways by ``a`` and forward by ``f`` (body frame)."""
    return np.array([side * np.sin(a), -np.cos(a) * np.cos(f), np.cos(a) * np.sin(f)])


def _unit(v) -> np.ndarray:
    v = np.asarray(v, np.float64)
    return v / np.linalg.norm(v)


def _limbs(body: BodyShape, pose: Pose, torso: np.ndarray, neck: np.ndarray) -> dict[str, np.ndarray]:
    up, left = torso @ [0, 1, 0], torso @ [1, 0, 0]
    joints = {}
    for side, s in SIDES:
        shoulder = neck - 0.02 * body.stature * up + s * body.shoulder_half * left
        ua, uf, fa, ff = pose.arms[side]
        elbow = shoulder + body.upper_arm * (torso @ limb_dir(ua, uf, s))
        fore = torso @ limb_dir(fa, ff, s)
        wrist = elbow + body.forearm * fore
        hip = np.array([s * body.hip_half, 0.0, 0.0])
        ta, tf, sa, sf = pose.legs[side]
        knee = hip + body.thigh * limb_dir(ta, tf, s)
        ankle = knee + body.shin * limb_dir(sa, sf, s)
        joints.update({
            f"{side}_shoulder": shoulder, f"{side}_elbow": elbow, f"{side}_wrist": wrist,
            f"{side}_hand": wrist + 0.5 * body.hand_len * fore, f"{side}_hip": hip, f"{side}_knee": knee,
            f"{side}_ankle": ankle, f"{side}_toe": ankle + np.array([0.0, -0.3 * body.foot_r, body.foot_len]),
        })  # fmt: skip
    return joints


def _head(body: BodyShape, pose: Pose, torso: np.ndarray, neck: np.ndarray) -> dict[str, np.ndarray]:
    frame = torso @ _rot_y(pose.head_yaw) @ _rot_x(pose.head_tilt)
    centre = neck + (body.neck_len + 0.9 * body.head_r) * (frame @ [0, 1, 0])
    r = body.head_r
    joints = {"head": centre, "nose": centre + 0.98 * r * _unit(frame @ [0, -0.2, 1])}
    for side, s in SIDES:
        joints[f"{side}_eye"] = centre + 0.97 * r * _unit(frame @ [s * 0.38, 0.18, 0.9])
        joints[f"{side}_ear"] = centre + 0.9 * r * _unit(frame @ [s, 0.0, -0.1])
    return joints


def skeleton(body: BodyShape, pose: Pose) -> dict[str, np.ndarray]:
    """Named 3D joints (world metres) of ``body`` in ``pose``, standing on the floor.

    Besides the 18 OpenPose joints it gives ``pelvis``, ``head`` (centre), ``*_hand`` (palm
    centre) and ``*_toe``.
    """
    torso = _rot_z(pose.sway) @ _rot_x(pose.lean)
    pelvis = np.zeros(3)
    neck = pelvis + body.torso_len * (torso @ [0, 1, 0])
    joints = {"pelvis": pelvis, "neck": neck}
    joints.update(_limbs(body, pose, torso, neck))
    joints.update(_head(body, pose, torso, neck))
    turn, shift = _rot_y(pose.yaw), np.array([pose.x, 0.0, 0.0])
    joints = {name: turn @ p + shift for name, p in joints.items()}
    lowest = min(joints[f"{side}_{part}"][1] for side, _ in SIDES for part in ("ankle", "toe"))
    lift = np.array([0.0, body.foot_r - lowest, 0.0])
    return {name: p + lift for name, p in joints.items()}
