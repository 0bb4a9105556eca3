"""Render one synthetic video: frames and their exact ground truth, from the same z-buffer.

Per frame the room is drawn first (with its depth), then every character and object primitive;
the colour image is the frame, the owner image gives the character mask and the object masks,
the depth image is the scene depth, and keypoint visibility is read off the same buffers. None
of it is estimated, so the masks, depth and keypoints agree with the pixels exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dataset.keypoint_formats import OPENPOSE_18
from dataset.synthetic.background import render_backdrop
from dataset.synthetic.config import SynthConfig
from dataset.synthetic.figure import OBJECT_BASE, is_character
from dataset.synthetic.raster import ZBuffer
from dataset.synthetic.scene import frame_scene, keypoints, plan_video, static_scene

KEYPOINT_FORMAT = OPENPOSE_18.name


@dataclass
class SynthVideo:
    """A synthetic video and its ground truth. T frames of H x W, K objects.

    ``frames`` is None for a video loaded from its sidecar (the pixels live in the mp4).
    """

    frames: np.ndarray | None  # uint8 [T, H, W, 3]
    character_mask: np.ndarray  # bool [T, H, W]
    object_masks: np.ndarray  # bool [T, K, H, W], visible pixels of each object
    object_labels: list[str]
    keypoints: np.ndarray  # float32 [T, 18, 3] openpose_18: x, y, visibility
    depth: np.ndarray  # float32 [T, H, W], metres, larger = farther
    fps: float
    motion: str = ""
    body: str = ""
    clothing: str = ""
    seed: int = 0
    index: int = 0
    name: str = ""
    keypoint_format: str = KEYPOINT_FORMAT

    def __post_init__(self) -> None:
        t, h, w = self.character_mask.shape
        if self.frames is not None and self.frames.shape != (t, h, w, 3):
            raise ValueError(f"frames {self.frames.shape} do not match masks {(t, h, w)}")
        k = len(self.object_labels)
        if self.object_masks.shape != (t, k, h, w):
            raise ValueError(f"object_masks {self.object_masks.shape} != {(t, k, h, w)} for labels {self.object_labels}")
        if self.keypoints.shape != (t, OPENPOSE_18.num_joints, 3) or self.depth.shape != (t, h, w):
            raise ValueError(f"keypoints {self.keypoints.shape} / depth {self.depth.shape} do not fit {(t, h, w)}")

    @property
    def num_frames(self) -> int:
        return int(self.character_mask.shape[0])

    @property
    def size(self) -> tuple[int, int]:
        return tuple(self.character_mask.shape[1:])


def render_video(config: SynthConfig, index: int) -> SynthVideo:
    """Video ``index`` of the crawl ``config`` defines; the same arguments give the same arrays."""
    plan = plan_video(config, index)
    t, h, w, k = plan.num_frames, plan.height, plan.width, len(plan.props)
    room, room_depth = render_backdrop(plan.backdrop, plan.camera, h, w)
    frames = np.empty((t, h, w, 3), np.uint8)
    owners = np.empty((t, h, w), np.int16)
    depth = np.empty((t, h, w), np.float32)
    points = np.empty((t, OPENPOSE_18.num_joints, 3), np.float32)
    # The camera and the furniture stay put: draw them once, then only what moves per frame.
    still = ZBuffer(room, room_depth)
    for prims in static_scene(plan).values():
        still.draw_all(prims)
    for i in range(t):
        character, objects, joints = frame_scene(plan, i, moving_only=True)
        buffer = still.copy().draw_all(character)
        for prims in objects.values():
            buffer.draw_all(prims)
        frames[i], owners[i], depth[i] = buffer.colour, buffer.owner, buffer.depth
        points[i] = keypoints(plan, joints, buffer)
    object_masks = owners[:, None] == (OBJECT_BASE + np.arange(k, dtype=np.int16))[None, :, None, None]
    return SynthVideo(
        frames=frames, character_mask=is_character(owners), object_masks=object_masks,
        object_labels=plan.labels, keypoints=points, depth=depth, fps=float(plan.fps), motion=plan.motion,
        body=plan.body.build, clothing=plan.outfit.clothing, seed=plan.seed, index=index, name=plan.name,
    )  # fmt: skip
