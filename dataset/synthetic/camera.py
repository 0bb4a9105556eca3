"""The synthetic world's camera: orthographic, tilted down a little, in metres.

World axes: X to the screen's right, Y up (the floor is Y = 0), Z toward the camera. The camera
looks down by ``pitch`` so table tops and floors show; it is orthographic so a body part's screen
size does not depend on its depth, which keeps the 2D drawing of 3D parts exact. Depth is the
distance along the viewing direction (larger = farther), in metres.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Camera:
    scale: float  # pixels per metre
    cx: float  # screen x of world X = 0
    floor_y: float  # screen y of the world origin (on the floor, under the character)
    distance: float  # depth of the world origin
    pitch: float  # radians, looking down

    def project(self, points: np.ndarray) -> np.ndarray:
        """World points [..., 3] -> screen [..., 3] as (x px, y px, depth)."""
        p = np.asarray(points, np.float64)
        c, s = np.cos(self.pitch), np.sin(self.pitch)
        x = self.cx + self.scale * p[..., 0]
        y = self.floor_y - self.scale * (p[..., 1] * c - p[..., 2] * s)
        depth = self.distance - (p[..., 1] * s + p[..., 2] * c)
        return np.stack([x, y, depth], axis=-1)

    def view_dir(self) -> np.ndarray:
        """Unit vector from the scene toward the camera (for back-face culling)."""
        return np.array([0.0, np.sin(self.pitch), np.cos(self.pitch)])

    def floor_at_rows(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """World Z and depth of the floor (Y = 0) seen at screen rows ``rows``."""
        z = (rows - self.floor_y) / (self.scale * np.sin(self.pitch))
        return z, self.distance - z * np.cos(self.pitch)

    def wall_at_rows(self, rows: np.ndarray, wall_z: float) -> tuple[np.ndarray, np.ndarray]:
        """World Y and depth of a wall (the plane Z = ``wall_z``) seen at screen rows ``rows``."""
        c, s = np.cos(self.pitch), np.sin(self.pitch)
        y = ((self.floor_y - rows) / self.scale + wall_z * s) / c
        return y, self.distance - (y * s + wall_z * c)

    def horizon_row(self, wall_z: float) -> float:
        """Screen row where the floor meets a wall at Z = ``wall_z`` (< 0, behind the origin)."""
        return self.floor_y + self.scale * wall_z * np.sin(self.pitch)
