"""Draw the synthetic character: its 3D joints become shaded tubes, one owner id per body part.

Limbs are round (screen radius and depth bulge equal); the torso and skirt are elliptic in
cross-section, so their screen width and how far they bulge toward the camera follow the body's
turn, and a figure seen side-on is still solid. Owner ids 1..63 are body parts (the character
mask is exactly the set of pixels they win); objects use ids from :data:`OBJECT_BASE`.
"""

from __future__ import annotations

import numpy as np

from dataset.synthetic.body import SIDES, BodyShape, Outfit
from dataset.synthetic.camera import Camera
from dataset.synthetic.raster import Tube

_LIMBS = ("upper_arm", "forearm", "hand", "thigh", "shin", "foot")
PARTS = ("head", "hair", "eyes", "neck", "torso", "shoulders", "pelvis", "skirt") + tuple(
    f"{side}_{limb}" for side, _ in SIDES for limb in _LIMBS
)
PART_ID = {name: i + 1 for i, name in enumerate(PARTS)}
OBJECT_BASE = 64  # owner id of object k is OBJECT_BASE + k
_EYE = (35, 30, 35)


def is_character(owner: np.ndarray) -> np.ndarray:
    return (owner >= 1) & (owner < OBJECT_BASE)


def _shade_mix(colour, k: float) -> tuple[int, int, int]:
    return tuple(int(np.clip(c * k, 0, 255)) for c in colour)


class FigureDrawer:
    """Turns joints of one body in one outfit into tubes, seen by one camera."""

    def __init__(self, body: BodyShape, outfit: Outfit, camera: Camera):
        self.body, self.outfit, self.camera = body, outfit, camera

    def _tube(self, part: str, colour, a, b, ra: float, rb: float, caps: bool = True) -> Tube:
        pa, pb = self.camera.project(np.asarray(a)), self.camera.project(np.asarray(b))
        s = self.camera.scale
        return Tube(PART_ID[part], colour, tuple(pa), tuple(pb), s * ra, s * rb, ra, rb, caps)

    def _elliptic(self, part, colour, a, b, widths, depth_halves, lateral, forward) -> Tube:
        """A flat-ended tube of elliptic cross-section (half-width along ``lateral``, half-depth
        along ``forward``), its screen radius and bulge taken from the ellipse seen by the camera."""
        pa, pb = self.camera.project(np.asarray(a)), self.camera.project(np.asarray(b))
        axis = pb[:2] - pa[:2]
        norm = np.hypot(*axis)
        nx, ny = (-axis[1] / norm, axis[0] / norm) if norm > 1e-9 else (1.0, 0.0)
        c, s = np.cos(self.camera.pitch), np.sin(self.camera.pitch)
        across = nx * np.array([1.0, 0.0, 0.0]) - ny * np.array([0.0, c, -s])  # screen y points down
        view = self.camera.view_dir()

        def extent(w, d, direction):
            return float(np.hypot(w * lateral @ direction, d * forward @ direction))

        r = [self.camera.scale * extent(w, d, across) for w, d in zip(widths, depth_halves)]
        e = [extent(w, d, view) for w, d in zip(widths, depth_halves)]
        return Tube(PART_ID[part], colour, tuple(pa), tuple(pb), r[0], r[1], e[0], e[1], caps=False)

    def _frame_axes(self, j):
        lateral = j["left_shoulder"] - j["right_shoulder"]
        lateral /= np.linalg.norm(lateral)
        up = j["neck"] - j["pelvis"]
        up /= np.linalg.norm(up)
        forward = np.cross(lateral, up)
        return lateral, up, forward / np.linalg.norm(forward)

    def _trunk(self, j) -> list[Tube]:
        b, o = self.body, self.outfit
        lateral, up, forward = self._frame_axes(j)
        top = 0.5 * (j["left_shoulder"] + j["right_shoulder"])
        waist = j["pelvis"] + 0.02 * b.stature * up
        tubes = [
            self._elliptic("torso", o.shirt, top, waist, (0.92 * b.shoulder_half, b.waist_half),
                           (b.chest_depth, 0.92 * b.chest_depth), lateral, forward),
            self._tube("shoulders", o.shirt, j["left_shoulder"], j["right_shoulder"], 1.2 * b.arm_r, 1.2 * b.arm_r),
            self._tube("neck", _shade_mix(o.skin, 0.92), j["neck"] - 0.02 * b.stature * up, j["head"], 0.4 * b.head_r,
                       0.4 * b.head_r),
        ]  # fmt: skip
        if o.clothing in ("skirt", "wide_skirt"):
            tubes.append(self._skirt(j, waist, lateral, forward))
        else:
            hips = 0.5 * (j["left_hip"] + j["right_hip"]) - 0.035 * b.stature * up
            width = max(b.waist_half, b.hip_half + b.thigh_r)
            tubes.append(self._elliptic("pelvis", o.bottom, waist + 0.01 * up, hips, (b.waist_half, width),
                                        (0.92 * b.chest_depth, 0.9 * b.chest_depth), lateral, forward))  # fmt: skip
        return tubes

    def _skirt(self, j, waist, lateral, forward) -> Tube:
        b = self.body
        knees = 0.5 * (j["left_knee"] + j["right_knee"])
        ankles = 0.5 * (j["left_ankle"] + j["right_ankle"])
        wide = self.outfit.clothing == "wide_skirt"
        hem = 0.45 * knees + 0.55 * ankles if wide else 0.85 * knees + 0.15 * waist
        flare = (b.hip_half + b.thigh_r) * (2.0 if wide else 1.3)
        # The hem must cover the knees wherever they swing, sideways and in depth.
        apart = j["left_knee"] - j["right_knee"]
        width = max(flare, 0.5 * abs(apart @ lateral) + 1.3 * b.thigh_r)
        depth = max(0.8 * flare, 0.5 * abs(apart @ forward) + 1.3 * b.thigh_r)
        return self._elliptic("skirt", self.outfit.bottom, waist, hem, (1.02 * b.waist_half, width),
                              (b.chest_depth, depth), lateral, forward)  # fmt: skip

    def _head(self, j) -> list[Tube]:
        b, o = self.body, self.outfit
        r = b.head_r
        up = (j["head"] - j["neck"]) / np.linalg.norm(j["head"] - j["neck"])
        face = j["nose"] - j["head"]
        face = (face - (face @ up) * up) / max(np.linalg.norm(face - (face @ up) * up), 1e-9)
        tubes = [
            self._tube("head", o.skin, j["head"] - 0.12 * r * up, j["head"] + 0.1 * r * up, r, r),
            self._tube("hair", o.hair, j["head"] + 0.25 * r * up - 0.1 * r * face,
                       j["head"] + 0.3 * r * up - 0.3 * r * face, 0.98 * r, 0.98 * r),
        ]  # fmt: skip
        tubes += [self._tube("eyes", _EYE, j[f"{s}_eye"], j[f"{s}_eye"], 0.14 * r, 0.14 * r) for s, _ in SIDES]
        if o.long_hair:
            # Far enough behind the head that the face and neck stay in front of it.
            top, low = j["head"] - 0.6 * r * face + 0.1 * r * up, j["neck"] - 0.6 * r * face - 0.6 * r * up
            tubes.append(self._tube("hair", o.hair, top, low, 0.98 * r, 0.8 * r, caps=False))
        return tubes

    def _limbs(self, j) -> list[Tube]:
        b, o = self.body, self.outfit
        sleeve = o.shirt if o.long_sleeves else o.skin
        legs = {"trousers": (o.bottom, o.bottom), "shorts": (o.bottom, o.skin)}.get(o.clothing, (o.skin, o.skin))
        tubes = []
        for side, _ in SIDES:

            def p(name, side=side):
                return j[f"{side}_{name}"]

            tubes += [
                self._tube(f"{side}_upper_arm", o.shirt, p("shoulder"), p("elbow"), 1.1 * b.arm_r, b.arm_r),
                self._tube(f"{side}_forearm", sleeve, p("elbow"), p("wrist"), b.arm_r, 0.8 * b.arm_r),
                self._tube(f"{side}_hand", o.skin, p("wrist"), p("hand"), 0.85 * b.hand_r, b.hand_r),
                self._tube(f"{side}_thigh", legs[0], p("hip"), p("knee"), b.thigh_r, 1.1 * b.shin_r),
                self._tube(f"{side}_shin", legs[1], p("knee"), p("ankle"), b.shin_r, 0.8 * b.shin_r),
                self._tube(f"{side}_foot", o.shoes, p("ankle"), p("toe"), b.foot_r, b.foot_r),
            ]
        return tubes

    def tubes(self, joints: dict[str, np.ndarray]) -> list[Tube]:
        return self._trunk(joints) + self._head(joints) + self._limbs(joints)

    def keypoint_tolerance(self, joint: str) -> float:
        """How far (depth) in front of a joint its own body surface may lie and still show it."""
        b = self.body
        if joint in ("nose",) or joint.endswith(("_eye", "_ear")):
            return 0.3 * b.head_r
        if joint.endswith(("_elbow", "_wrist")):
            return 1.2 * b.arm_r + 0.01
        if joint.endswith(("_knee", "_ankle")):
            return 1.2 * b.thigh_r + 0.01
        if joint.endswith("_hip"):
            return 1.3 * b.chest_depth + 0.03
        return b.chest_depth + 0.03  # neck, shoulders
