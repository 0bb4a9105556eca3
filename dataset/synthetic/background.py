"""Procedural rooms behind the synthetic character: a textured wall and floor with exact depth.

The wall is the plane Z = ``wall_z`` behind the character, the floor is Y = 0; both are seen
through the video's :class:`~dataset.synthetic.camera.Camera`, so every background pixel has
the depth of the surface it shows and the floor recedes toward the wall.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dataset.synthetic.camera import Camera

WALLS = ("plain", "stripes", "tiles", "bricks", "dots")
FLOORS = ("planks", "checker", "plain")


@dataclass(frozen=True)
class Backdrop:
    wall: str
    floor: str
    wall_z: float  # negative: metres behind the character
    wall_colours: tuple[tuple[int, int, int], tuple[int, int, int]]
    floor_colours: tuple[tuple[int, int, int], tuple[int, int, int]]
    period: float  # pattern size in metres
    noise_seed: int


def _tint(rng: np.random.Generator, lo: float, hi: float) -> tuple[int, int, int]:
    base = rng.uniform(lo, hi)
    return tuple(int(np.clip(base + rng.uniform(-40, 40), 0, 255)) for _ in range(3))


def sample_backdrop(rng: np.random.Generator) -> Backdrop:
    wall_a = _tint(rng, 120, 230)
    floor_a = _tint(rng, 60, 170)
    return Backdrop(
        wall=str(rng.choice(WALLS)), floor=str(rng.choice(FLOORS)), wall_z=-rng.uniform(1.6, 3.2),
        wall_colours=(wall_a, tuple(int(c * rng.uniform(0.7, 0.9)) for c in wall_a)),
        floor_colours=(floor_a, tuple(int(c * rng.uniform(0.65, 0.85)) for c in floor_a)),
        period=rng.uniform(0.15, 0.45), noise_seed=int(rng.integers(2**31)),
    )  # fmt: skip


def _wall_pattern(kind: str, u: np.ndarray, v: np.ndarray, period: float) -> np.ndarray:
    """Mix weight in [0, 1] between the two wall colours at wall coordinates (u across, v up)."""
    if kind == "stripes":
        return (np.floor(u / period) % 2).astype(np.float32)
    if kind == "tiles":
        return ((np.floor(u / period) + np.floor(v / period)) % 2).astype(np.float32) * 0.6
    if kind == "bricks":
        row = np.floor(v / (0.4 * period))
        mortar = (np.abs(v / (0.4 * period) - np.round(v / (0.4 * period))) < 0.08) | (
            np.abs((u / period + 0.5 * row) - np.round(u / period + 0.5 * row)) < 0.04
        )
        return mortar.astype(np.float32)
    if kind == "dots":
        cu, cv = u / period - np.round(u / period), v / period - np.round(v / period)
        return (cu * cu + cv * cv < 0.09).astype(np.float32)
    return np.clip(v / 3.0, 0, 1).astype(np.float32) * 0.5  # plain: a soft vertical gradient


def _floor_pattern(kind: str, x: np.ndarray, z: np.ndarray, period: float) -> np.ndarray:
    if kind == "planks":
        board = np.floor(x / (0.6 * period))
        seam = np.abs(x / (0.6 * period) - np.round(x / (0.6 * period))) < 0.05
        return np.where(seam, 1.0, 0.25 * (board % 3) / 2).astype(np.float32)
    if kind == "checker":
        return ((np.floor(x / (2 * period)) + np.floor(z / (2 * period))) % 2).astype(np.float32)
    return np.zeros_like(x + z, dtype=np.float32)


def _mix(pair, weight: np.ndarray) -> np.ndarray:
    a, b = (np.asarray(c, np.float32) for c in pair)
    return a + (b - a) * weight[..., None]


def _hang_pictures(wall: np.ndarray, u: np.ndarray, v: np.ndarray, rng: np.random.Generator) -> None:
    """Paint up to three framed pictures or windows on the wall (u across, v up, metres)."""
    for _ in range(int(rng.integers(0, 4))):
        cu, cv = rng.uniform(-1.6, 1.6), rng.uniform(0.9, 1.45)
        hu, hv = rng.uniform(0.12, 0.4), rng.uniform(0.1, 0.25)
        inside = (np.abs(u - cu) < hu) & (np.abs(v - cv) < hv)
        border = max(0.02, 0.08 * min(hu, hv))
        pane = (np.abs(u - cu) < hu - border) & (np.abs(v - cv) < hv - border)
        window = rng.uniform() < 0.4
        fill = np.array([200, 225, 245]) if window else rng.uniform(40, 230, 3)
        wall[inside] = rng.uniform(20, 120, 3) if not window else 235.0
        wall[pane] = fill * (1.0 - 0.3 * ((v[pane] - cv + hv) / (2 * hv)))[..., None]
        if window:  # glazing bars
            wall[inside & ((np.abs(u - cu) < border / 2) | (np.abs(v - cv) < border / 2))] = 235.0


def render_backdrop(backdrop: Backdrop, camera: Camera, height: int, width: int):
    """(colour uint8 [H, W, 3], depth float32 [H, W]) of the room as seen by ``camera``."""
    rows = np.arange(height, dtype=np.float64)[:, None]
    x = (np.arange(width, dtype=np.float64)[None, :] - camera.cx) / camera.scale + 0 * rows
    horizon = camera.horizon_row(backdrop.wall_z)
    wall_y, wall_depth = camera.wall_at_rows(rows, backdrop.wall_z)
    floor_z, floor_depth = camera.floor_at_rows(np.maximum(rows, horizon))
    wall_y, floor_z = wall_y + 0 * x, floor_z + 0 * x
    on_wall = np.broadcast_to(rows < horizon, (height, width))
    rng = np.random.default_rng(backdrop.noise_seed)
    wall = _mix(backdrop.wall_colours, _wall_pattern(backdrop.wall, x, wall_y, backdrop.period))
    _hang_pictures(wall, x, wall_y, rng)
    floor = _mix(backdrop.floor_colours, _floor_pattern(backdrop.floor, x, floor_z, backdrop.period))
    # Darken the floor toward the wall and draw a skirting board where they meet.
    floor *= (0.8 + 0.2 * np.clip((rows - horizon) / max(height - horizon, 1), 0, 1))[..., None]
    colour = np.where(on_wall[..., None], wall, floor)
    board = (rows >= horizon - max(1.0, 0.06 * camera.scale)) & (rows < horizon)
    colour = np.where(np.broadcast_to(board, (height, width))[..., None], 0.6 * wall, colour)
    colour += rng.normal(0.0, 4.0, colour.shape)
    depth = np.where(on_wall, wall_depth, floor_depth)
    return np.clip(colour, 0, 255).astype(np.uint8), depth.astype(np.float32)
