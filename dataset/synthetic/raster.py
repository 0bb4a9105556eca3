"""A per-pixel z-buffer for the synthetic world: colour, depth and owner drawn in one pass.

Every surface is one of two primitives, already projected to the screen: a :class:`Tube` (a
tapered capsule or cylinder: limbs, head, torso, ball, cup) or a flat :class:`Facet` (a polygon:
faces of boxes, tables, chairs). Each pixel keeps the nearest surface's colour, depth and owner
id, so frames, masks and depth maps come out of the same test and cannot disagree.

Pixel ``(row i, column j)`` is sampled at its integer coordinates ``(x=j, y=i)``; keypoints use
the same convention (round to the nearest pixel). Depth is larger = farther.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

# Light from the upper left, toward the camera (screen x right, y down, z toward the viewer).
LIGHT = np.array([-0.45, -0.55, 0.70]) / np.linalg.norm([-0.45, -0.55, 0.70])
_AMBIENT = 0.45


@dataclass(frozen=True)
class Tube:
    """A tube between screen points ``p0``, ``p1`` given as (x px, y px, axis depth).

    ``r0``/``r1`` are the screen radii (px) at the ends; ``e0``/``e1`` how far the surface comes
    toward the camera from the axis (depth units) there. ``caps`` rounds the ends (a capsule; a
    sphere when p0 == p1); without caps the ends are cut flat (a cylinder seen side-on).
    """

    owner: int
    colour: tuple[int, int, int]
    p0: tuple[float, float, float]
    p1: tuple[float, float, float]
    r0: float
    r1: float
    e0: float
    e1: float
    caps: bool = True


@dataclass(frozen=True)
class Facet:
    """A flat polygon; ``points`` are (x px, y px, depth) and depth varies over their plane."""

    owner: int
    colour: tuple[int, int, int]
    points: tuple[tuple[float, float, float], ...]


def _box(xs: np.ndarray, ys: np.ndarray, pad: float, height: int, width: int):
    x0, x1 = max(0, int(np.floor(xs.min() - pad))), min(width, int(np.ceil(xs.max() + pad)) + 1)
    y0, y1 = max(0, int(np.floor(ys.min() - pad))), min(height, int(np.ceil(ys.max() + pad)) + 1)
    return (x0, x1, y0, y1) if x0 < x1 and y0 < y1 else None


def _shade(colour, normal_dot: np.ndarray) -> np.ndarray:
    factor = _AMBIENT + (1.0 - _AMBIENT) * np.clip(normal_dot, 0.0, 1.0)
    return np.clip(np.asarray(colour, np.float32) * factor[..., None], 0, 255).astype(np.uint8)


def cover_tube(tube: Tube, height: int, width: int):
    """(box, inside mask, depth, colour) of a tube over its bounding box, or None off-screen."""
    p0, p1 = np.asarray(tube.p0, np.float64), np.asarray(tube.p1, np.float64)
    box = _box(np.array([p0[0], p1[0]]), np.array([p0[1], p1[1]]), max(tube.r0, tube.r1), height, width)
    if box is None:
        return None
    x0, x1, y0, y1 = box
    xs = np.arange(x0, x1, dtype=np.float64)[None, :]
    ys = np.arange(y0, y1, dtype=np.float64)[:, None]
    axis = p1[:2] - p0[:2]
    length2 = float(axis @ axis)
    u = ((xs - p0[0]) * axis[0] + (ys - p0[1]) * axis[1]) / length2 if length2 > 1e-9 else np.zeros_like(xs + ys)
    uc = np.clip(u, 0.0, 1.0)
    ox, oy = xs - (p0[0] + uc * axis[0]), ys - (p0[1] + uc * axis[1])
    r = np.maximum(tube.r0 + uc * (tube.r1 - tube.r0), 1e-6)
    d2 = (ox * ox + oy * oy) / (r * r)
    inside = d2 < 1.0
    if not tube.caps:
        inside &= (u >= 0.0) & (u <= 1.0)
    bulge = np.sqrt(np.clip(1.0 - d2, 0.0, 1.0))
    depth = p0[2] + uc * (p1[2] - p0[2]) - (tube.e0 + uc * (tube.e1 - tube.e0)) * bulge
    normal_dot = (ox / r) * LIGHT[0] + (oy / r) * LIGHT[1] + bulge * LIGHT[2]
    return box, inside, depth.astype(np.float32), _shade(tube.colour, normal_dot)


def _plane(points: np.ndarray) -> np.ndarray | None:
    """Coefficients (a, b, c) of depth = a x + b y + c through the facet's vertices, or None
    for a facet seen edge-on (it covers no area on screen)."""
    # Newell's normal: robust for any planar polygon, whatever its first three vertices are.
    nxt = np.roll(points, -1, axis=0)
    normal = np.array([
        np.sum((points[:, 1] - nxt[:, 1]) * (points[:, 2] + nxt[:, 2])),
        np.sum((points[:, 2] - nxt[:, 2]) * (points[:, 0] + nxt[:, 0])),
        np.sum((points[:, 0] - nxt[:, 0]) * (points[:, 1] + nxt[:, 1])),
    ])  # fmt: skip
    if abs(normal[2]) < 1e-6:
        return None
    a, b = -normal[0] / normal[2], -normal[1] / normal[2]
    centre = points.mean(axis=0)
    return np.array([a, b, centre[2] - a * centre[0] - b * centre[1]])


def cover_facet(facet: Facet, height: int, width: int):
    """(box, inside mask, depth, colour) of a facet over its bounding box, or None off-screen."""
    pts = np.asarray(facet.points, np.float64)
    box = _box(pts[:, 0], pts[:, 1], 1.0, height, width)
    plane = _plane(pts)
    if box is None or plane is None:
        return None
    x0, x1, y0, y1 = box
    local = np.zeros((y1 - y0, x1 - x0), np.uint8)
    # 4 fractional bits keep sub-pixel vertex positions (cv2 fills integer lattices otherwise).
    poly = np.round((pts[:, :2] - [x0, y0]) * 16).astype(np.int32)
    cv2.fillPoly(local, [poly], 1, lineType=cv2.LINE_8, shift=4)
    a, b, c = plane
    xs = np.arange(x0, x1, dtype=np.float64)[None, :]
    ys = np.arange(y0, y1, dtype=np.float64)[:, None]
    depth = (a * xs + b * ys + c).astype(np.float32)
    colour = np.broadcast_to(np.asarray(facet.colour, np.uint8), local.shape + (3,))
    return box, local.astype(bool), depth, colour


class ZBuffer:
    """Colour, depth and owner images; :meth:`draw` keeps, per pixel, the nearest surface.

    The buffer starts from a background (colour and depth, owner 0) so that geometry behind a
    wall or under the floor is hidden exactly as it would be.
    """

    def __init__(self, colour: np.ndarray, depth: np.ndarray, owner: np.ndarray | None = None):
        self.colour = np.array(colour, dtype=np.uint8, copy=True)
        self.depth = np.array(depth, dtype=np.float32, copy=True)
        self.owner = np.zeros(self.depth.shape, np.int16) if owner is None else np.array(owner, np.int16, copy=True)

    def copy(self) -> "ZBuffer":
        return ZBuffer(self.colour, self.depth, self.owner)

    @classmethod
    def empty(cls, height: int, width: int) -> "ZBuffer":
        """A buffer with nothing in it: black, infinitely far."""
        return cls(np.zeros((height, width, 3), np.uint8), np.full((height, width), np.inf, np.float32))

    def draw(self, primitive: Tube | Facet) -> None:
        h, w = self.depth.shape
        cover = cover_tube(primitive, h, w) if isinstance(primitive, Tube) else cover_facet(primitive, h, w)
        if cover is None:
            return
        (x0, x1, y0, y1), inside, depth, colour = cover
        region = (slice(y0, y1), slice(x0, x1))
        nearer = inside & (depth < self.depth[region])
        np.copyto(self.depth[region], depth, where=nearer)
        np.copyto(self.colour[region], colour, where=nearer[..., None])
        np.copyto(self.owner[region], np.int16(primitive.owner), where=nearer)

    def draw_all(self, primitives) -> "ZBuffer":
        for primitive in primitives:
            self.draw(primitive)
        return self
