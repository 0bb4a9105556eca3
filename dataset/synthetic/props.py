"""Objects of the synthetic world, as z-buffer primitives: ball, cup, box, table, chair.

Held objects are placed from the hand joints every frame (the ball and cup in one palm, the box
between both); the table and chair stand on the floor, in front of and behind the character.
Boxes, tables and chairs are made of cuboids whose camera-facing faces become flat facets.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dataset.synthetic.camera import Camera
from dataset.synthetic.raster import LIGHT, Facet, Tube

@dataclass(frozen=True)
class Prop:
    """One object of a video: its label, colour and size (metres), and where it stands."""

    label: str
    colour: tuple[int, int, int]
    size: tuple[float, float, float]  # half extents (x, y, z); a ball uses size[0] as radius
    hand: str = ""  # the holding hand of a ball or cup
    x: float = 0.0  # world position of a table or chair (on the floor)
    z: float = 0.0
    yaw: float = 0.0


def _rot_y(a: float) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])


def _face_colour(colour, normal: np.ndarray, camera: Camera) -> tuple[int, int, int]:
    c, s = np.cos(camera.pitch), np.sin(camera.pitch)
    screen = np.array([normal[0], -(normal[1] * c - normal[2] * s), normal @ camera.view_dir()])
    k = 0.5 + 0.5 * max(0.0, float(screen @ LIGHT))
    return tuple(int(min(255, v * k)) for v in colour)


def cuboid(owner: int, colour, centre, half, yaw: float, camera: Camera) -> list[Facet]:
    """The faces of a cuboid that face the camera, as facets."""
    rot = _rot_y(yaw)
    facets = []
    for axis in range(3):
        for sign in (-1.0, 1.0):
            normal = rot[:, axis] * sign
            if normal @ camera.view_dir() <= 1e-6:
                continue
            u, v = [a for a in range(3) if a != axis]
            corners = []
            for cu, cv in ((-1, -1), (1, -1), (1, 1), (-1, 1)):
                local = np.zeros(3)
                local[axis], local[u], local[v] = sign * half[axis], cu * half[u], cv * half[v]
                corners.append(np.asarray(centre) + rot @ local)
            points = camera.project(np.array(corners))
            facets.append(Facet(owner, _face_colour(colour, normal, camera), tuple(map(tuple, points))))
    return facets


def body_forward(joints: dict) -> np.ndarray:
    """The horizontal direction the character's chest faces."""
    forward = np.cross(joints["left_shoulder"] - joints["right_shoulder"], [0.0, 1.0, 0.0])
    return forward / max(np.linalg.norm(forward), 1e-9)


def _sphere(owner, colour, centre, radius, camera: Camera) -> Tube:
    p = tuple(camera.project(np.asarray(centre)))
    return Tube(owner, colour, p, p, camera.scale * radius, camera.scale * radius, radius, radius)


def ball(owner: int, prop: Prop, joints: dict, camera: Camera) -> list:
    """A ball in the palm: its centre sits beyond the palm along the forearm."""
    fore = joints[f"{prop.hand}_hand"] - joints[f"{prop.hand}_wrist"]
    fore /= np.linalg.norm(fore)
    radius = prop.size[0]
    centre = joints[f"{prop.hand}_hand"] + 0.7 * radius * fore
    return [_sphere(owner, prop.colour, centre, radius, camera)]


def cup(owner: int, prop: Prop, joints: dict, camera: Camera) -> list:
    """An upright cup gripped by the palm, with its dark inside showing at the rim."""
    r, h = prop.size[0], prop.size[1]
    centre = joints[f"{prop.hand}_hand"] + 0.8 * r * body_forward(joints) + np.array([0.0, 0.2 * h, 0.0])
    top, bottom = camera.project(centre + [0, h, 0]), camera.project(centre - [0, h, 0])
    s = camera.scale
    body = Tube(owner, prop.colour, tuple(top), tuple(bottom), s * r, s * 0.85 * r, r, 0.85 * r, caps=False)
    angles = np.linspace(0, 2 * np.pi, 16, endpoint=False)
    rim = centre + np.stack([0.9 * r * np.cos(angles), np.full(16, h), 0.9 * r * np.sin(angles)], axis=1)
    inside = Facet(owner, (60, 40, 30), tuple(map(tuple, camera.project(rim))))
    return [body, inside]


def box(owner: int, prop: Prop, joints: dict, camera: Camera, yaw: float) -> list:
    """A box between both palms: as wide as the hands are apart, centred between the wrists."""
    left, right = joints["left_wrist"], joints["right_wrist"]
    half = (0.5 * np.linalg.norm(left - right) - 0.01, prop.size[1], prop.size[2])
    return cuboid(owner, prop.colour, 0.5 * (left + right), half, yaw, camera)


def table(owner: int, prop: Prop, camera: Camera) -> list:
    """A table with a cloth hanging at its front, which hides whatever stands behind it."""
    hx, top, hz = prop.size
    at = np.array([prop.x, 0.0, prop.z])
    leg = 0.03
    parts = cuboid(owner, prop.colour, at + [0, top - 0.02, 0], (hx, 0.02, hz), prop.yaw, camera)
    cloth_low = 0.5 * top  # high enough that feet behind the table show below the cloth
    cloth = np.array([0.0, 0.5 * (top + cloth_low), hz + 0.01])
    parts += cuboid(owner, prop.colour, at + _rot_y(prop.yaw) @ cloth, (hx, 0.5 * (top - cloth_low), 0.01),
                    prop.yaw, camera)  # fmt: skip
    for sx in (-1, 1):
        for sz in (-1, 1):
            offset = _rot_y(prop.yaw) @ [sx * (hx - 2 * leg), 0.5 * top, sz * (hz - 2 * leg)]
            parts += cuboid(owner, prop.colour, at + offset, (leg, 0.5 * top, leg), prop.yaw, camera)
    return parts


def chair(owner: int, prop: Prop, camera: Camera) -> list:
    """A chair facing the camera: seat, backrest along its back edge, four legs."""
    hx, seat, hz = prop.size
    at, rot, leg = np.array([prop.x, 0.0, prop.z]), _rot_y(prop.yaw), 0.02
    parts = cuboid(owner, prop.colour, at + [0, seat, 0], (hx, 0.025, hz), prop.yaw, camera)
    back = rot @ [0.0, seat + 0.27, -hz + 0.02]
    parts += cuboid(owner, prop.colour, at + back, (hx, 0.25, 0.02), prop.yaw, camera)
    for sx in (-1, 1):
        for sz in (-1, 1):
            offset = rot @ [sx * (hx - leg), 0.5 * seat, sz * (hz - leg)]
            parts += cuboid(owner, prop.colour, at + offset, (leg, 0.5 * seat, leg), prop.yaw, camera)
    return parts
