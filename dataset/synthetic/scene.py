"""One synthetic video as a plan (who, wearing what, doing what, with which objects, where) and
its frames as z-buffer primitives.

:func:`plan_video` draws everything random about video ``index`` of a crawl from the stream
seeded by ``(seed, index)``; :func:`frame_scene` then gives, for a frame, the primitives of the
character and of each object, and the character's 3D joints. Rendering a frame is drawing those
primitives into one :class:`~dataset.synthetic.raster.ZBuffer`, so tests can also draw any
subset (the character alone, the table alone) and compare.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from dataset.keypoint_formats import OPENPOSE_18
from dataset.synthetic import props
from dataset.synthetic.background import Backdrop, sample_backdrop
from dataset.synthetic.body import BodyShape, Outfit, Pose, random_colour, sample_body, sample_outfit, skeleton
from dataset.synthetic.camera import Camera
from dataset.synthetic.config import HELD_OBJECTS, SCENE_OBJECTS, SynthConfig
from dataset.synthetic.figure import OBJECT_BASE, FigureDrawer, is_character
from dataset.synthetic.motions import MotionStyle, carry_box, pose_at, sample_style
from dataset.synthetic.raster import ZBuffer

_BOX_FREE_MOTIONS = ("wave", "dance")  # motions whose arms cannot carry a box


@dataclass(frozen=True)
class VideoPlan:
    name: str
    seed: int
    index: int
    height: int
    width: int
    num_frames: int
    fps: float
    style: MotionStyle
    body: BodyShape
    outfit: Outfit
    camera: Camera
    backdrop: Backdrop
    props: tuple[props.Prop, ...]

    @property
    def motion(self) -> str:
        return self.style.motion

    @property
    def labels(self) -> list[str]:
        return [p.label for p in self.props]


def _held_prop(rng, config: SynthConfig, style: MotionStyle, body: BodyShape) -> props.Prop | None:
    choices = [o for o in HELD_OBJECTS if o in config.objects]
    if style.motion in _BOX_FREE_MOTIONS:
        choices = [o for o in choices if o != "box"]
    if not choices or rng.uniform() >= config.object_rate:
        return None
    label = str(rng.choice(choices))
    hand = ("left" if style.side == "right" else "right") if style.motion == "wave" else style.side
    size = {
        "ball": (rng.uniform(0.07, 0.11) * body.stature / 1.7, 0.0, 0.0),
        "cup": (rng.uniform(0.045, 0.06), rng.uniform(0.06, 0.08), 0.0),
        "box": (0.0, rng.uniform(0.1, 0.17), rng.uniform(0.1, 0.16)),
    }[label]
    return props.Prop(label, random_colour(rng), size, hand=hand if label != "box" else "")


def _scene_props(rng, config: SynthConfig, carrying_box: bool) -> list[props.Prop]:
    choices = [o for o in SCENE_OBJECTS if o in config.objects]
    if not choices or rng.uniform() >= config.object_rate:
        return []
    chosen = choices if len(choices) > 1 and rng.uniform() < 0.3 else [str(rng.choice(choices))]
    out = []
    if "table" in chosen:  # a carried box reaches farther forward: keep the table clear of it
        z = rng.uniform(1.0, 1.15) + (0.35 if carrying_box else 0.0)
        size = (rng.uniform(0.45, 0.7), rng.uniform(0.7, 0.8), rng.uniform(0.25, 0.32))
        out.append(props.Prop("table", random_colour(rng, val=(0.3, 0.8)), size, x=rng.uniform(-0.2, 0.2), z=z))
    if "chair" in chosen:
        side = rng.choice([-1.0, 1.0])
        size = (rng.uniform(0.2, 0.25), rng.uniform(0.42, 0.48), rng.uniform(0.18, 0.22))
        out.append(props.Prop("chair", random_colour(rng, val=(0.3, 0.8)), size, x=side * rng.uniform(0.25, 0.45),
                              z=-rng.uniform(0.75, 0.9), yaw=rng.uniform(-0.4, 0.4)))  # fmt: skip
    return out


def _camera(rng, config: SynthConfig, body: BodyShape, table: bool) -> Camera:
    h, w = config.height, config.width
    scale = rng.uniform(0.6, 0.74) * h / body.stature
    # A table stands nearer, so lower on screen: lift the floor to keep its legs in frame.
    floor = rng.uniform(0.74, 0.8) if table else rng.uniform(0.86, 0.92)
    return Camera(scale=scale, cx=w * rng.uniform(0.44, 0.56), floor_y=h * floor, distance=4.0,
                  pitch=rng.uniform(0.12, 0.2))  # fmt: skip


def plan_video(config: SynthConfig, index: int) -> VideoPlan:
    """Everything random about video ``index`` of ``config``'s crawl (deterministic)."""
    if not 0 <= index:
        raise ValueError(f"video index must be >= 0, got {index}")
    rng = np.random.default_rng([config.seed, index])
    motion = config.motions[index % len(config.motions)]
    style = sample_style(rng, motion, config.num_frames / config.fps)
    body, outfit = sample_body(rng), sample_outfit(rng)
    held = _held_prop(rng, config, style, body)
    scene = _scene_props(rng, config, held is not None and held.label == "box")
    camera, backdrop = _camera(rng, config, body, any(p.label == "table" for p in scene)), sample_backdrop(rng)
    outfit = replace(outfit, long_hair=bool(rng.uniform() < 0.4))
    # Long walks pace to and fro inside the frame instead of leaving it.
    style = replace(style, track=max(0.3, 0.5 * config.width / camera.scale - 0.4))
    return VideoPlan(
        name=config.video_name(index), seed=config.seed, index=index, height=config.height,
        width=config.width, num_frames=config.num_frames, fps=config.fps, style=style, body=body,
        outfit=outfit, camera=camera, backdrop=backdrop,
        props=tuple(([held] if held else []) + scene),
    )  # fmt: skip


def frame_pose(plan: VideoPlan, frame: int) -> Pose:
    pose = pose_at(plan.style, frame / plan.fps)
    return carry_box(pose) if "box" in plan.labels else pose


def static_scene(plan: VideoPlan) -> dict[str, list]:
    """{label: primitives} of the objects that stand still (table, chair): the same every frame."""
    return {
        prop.label: getattr(props, prop.label)(OBJECT_BASE + k, prop, plan.camera)
        for k, prop in enumerate(plan.props)
        if prop.label in SCENE_OBJECTS
    }


def frame_scene(plan: VideoPlan, frame: int, moving_only: bool = False):
    """(character primitives, {object label: primitives}, 3D joints) of one frame.

    ``moving_only`` leaves out the objects of :func:`static_scene`.
    """
    pose = frame_pose(plan, frame)
    joints = skeleton(plan.body, pose)
    character = FigureDrawer(plan.body, plan.outfit, plan.camera).tubes(joints)
    objects = {} if moving_only else static_scene(plan)
    for k, prop in enumerate(plan.props):
        owner = OBJECT_BASE + k
        if prop.label in ("ball", "cup"):
            objects[prop.label] = getattr(props, prop.label)(owner, prop, joints, plan.camera)
        elif prop.label == "box":
            objects[prop.label] = props.box(owner, prop, joints, plan.camera, pose.yaw)
    return character, {p.label: objects[p.label] for p in plan.props if p.label in objects}, joints


def keypoints(plan: VideoPlan, joints: dict[str, np.ndarray], buffer: ZBuffer) -> np.ndarray:
    """OpenPose-18 keypoints [18, 3]: pixel x, y and visibility (1 shown, 0 hidden or off-frame).

    A joint shows when its pixel belongs to the character and the surface there is no nearer
    than the joint's own body surface (otherwise another limb or an object is in front).
    """
    drawer = FigureDrawer(plan.body, plan.outfit, plan.camera)
    out = np.zeros((OPENPOSE_18.num_joints, 3), np.float32)
    h, w = buffer.depth.shape
    for j, name in enumerate(OPENPOSE_18.joints):
        x, y, depth = plan.camera.project(joints[name])
        col, row = int(np.round(x)), int(np.round(y))
        shown = 0 <= col < w and 0 <= row < h
        shown = shown and bool(is_character(buffer.owner[row, col]))
        shown = shown and buffer.depth[row, col] >= depth - drawer.keypoint_tolerance(name)
        out[j] = (x, y, 1.0 if shown else 0.0)
    return out
