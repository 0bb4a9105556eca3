"""Shard fixtures for data-pipeline tests: clips with exact ground truth, written as real shards.

``write_shard_folder(folder, num_clips, ...)`` renders clips of the synthetic character world
(:mod:`dataset.synthetic`: exact masks, openpose_18 keypoints, depth) and writes them as
WebDataset shards (real mp4, real tars, parquet manifests) through
:class:`dataset.shards.ShardWriter`. Other test packages import it
(``from tests.dataset.conftest import write_shard_folder, synth_clip``). Fixtures:
``shard_folder`` (a factory bound to a temporary directory) and ``synth_shards`` (one shared,
read-only folder of 9 clips in 5 shards per test session).

``draw_clip`` / ``make_clip`` draw a simpler clip whose figure has ONE solid colour (a stick
figure holding a box), for tests that check pixels colour-exactly.
"""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np
import pytest

from dataset.keypoint_formats import OPENPOSE_18
from dataset.scale_aug import Layers
from dataset.schema import ClipMeta, ClipSample
from dataset.shards import ShardWriter
from dataset.synthetic import SynthConfig, render_video
from dataset.video import encode_mp4

PERSON_RGB = (220, 40, 40)
OBJECT_RGB = (30, 60, 230)
PERSON_DEPTH, OBJECT_DEPTH, FLOOR_DEPTH = 3.0, 2.5, 9.0

# Stick-figure joints relative to the neck, in units of the figure height (x right, y down).
_BODY = {
    "nose": (0.0, -0.08), "neck": (0.0, 0.0),
    "right_shoulder": (-0.09, 0.0), "right_elbow": (-0.12, 0.14), "right_wrist": (-0.13, 0.27),
    "left_shoulder": (0.09, 0.0), "left_elbow": (0.12, 0.14), "left_wrist": (0.13, 0.27),
    "right_hip": (-0.06, 0.33), "right_knee": (-0.07, 0.5), "right_ankle": (-0.07, 0.67),
    "left_hip": (0.06, 0.33), "left_knee": (0.07, 0.5), "left_ankle": (0.07, 0.67),
    "right_eye": (-0.025, -0.1), "left_eye": (0.025, -0.1), "right_ear": (-0.05, -0.09), "left_ear": (0.05, -0.09),
}  # fmt: skip


def _background(hw, rng) -> np.ndarray:
    grid = rng.integers(40, 200, (4, 5, 3)).astype(np.uint8)
    return cv2.resize(grid, hw[::-1], interpolation=cv2.INTER_CUBIC)


def stick_keypoints(t: int, hw, rng_phase: float) -> np.ndarray:
    """openpose_18 keypoints [18, 3] of the figure at frame ``t`` (arms and legs swing)."""
    h, w = hw
    size = 0.75 * h
    neck = np.array([0.3 * w + 0.8 * t, 0.15 * h])
    swing = 0.04 * np.sin(0.4 * t + rng_phase)
    out = np.zeros((18, 3), np.float32)
    for i, name in enumerate(OPENPOSE_18.joints):
        dx, dy = _BODY[name]
        if name.endswith(("wrist", "ankle", "knee", "elbow")):
            dx += swing if name.startswith("left") else -swing
        out[i] = (neck[0] + dx * size, neck[1] + dy * size, 1.0)
    return out


def _draw_figure(canvas, keypoints, colour, width) -> None:
    pts = [tuple(int(round(v)) for v in p[:2]) for p in keypoints]
    for a, b in OPENPOSE_18.limbs[:12]:  # body limbs; the face is the head disc
        cv2.line(canvas, pts[a], pts[b], colour, width)
    head = pts[OPENPOSE_18.index("nose")]
    cv2.circle(canvas, head, max(2, width), colour, -1)


def _object_box(keypoints, width):
    x, y = keypoints[OPENPOSE_18.index("right_wrist"), :2]
    return int(x - 2 * width), int(y), int(x), int(y + 2 * width)


def draw_clip(num_frames: int = 24, hw=(96, 128), seed: int = 0) -> Layers:
    """The fixture clip's exact pixels and ground truth, before mp4 encoding."""
    rng = np.random.default_rng(seed)
    h, w = hw
    width = max(3, h // 16)
    bg, phase = _background(hw, rng), float(rng.uniform(0, 6))
    frames = np.empty((num_frames, h, w, 3), np.uint8)
    person = np.zeros((num_frames, h, w), bool)
    objects = np.zeros((num_frames, 1, h, w), bool)
    kps = np.stack([stick_keypoints(t, hw, phase) for t in range(num_frames)])
    floor = np.linspace(FLOOR_DEPTH - 1, FLOOR_DEPTH, h, dtype=np.float32)[:, None]
    depth = np.broadcast_to(floor, (num_frames, h, w)).copy()
    for t in range(num_frames):
        frame, m = bg.copy(), np.zeros((h, w), np.uint8)
        _draw_figure(frame, kps[t], PERSON_RGB, width)
        _draw_figure(m, kps[t], 1, width)
        person[t] = m.astype(bool)
        x0, y0, x1, y1 = _object_box(kps[t], width)
        cv2.rectangle(frame, (x0, y0), (x1, y1), OBJECT_RGB, -1)
        objects[t, 0, max(y0, 0) : y1 + 1, max(x0, 0) : x1 + 1] = True
        person[t] &= ~objects[t, 0]
        frames[t] = frame
    depth[person] = PERSON_DEPTH
    depth[objects[:, 0]] = OBJECT_DEPTH
    return Layers(frames=frames, character=person, objects=objects, keypoints=kps, depth=depth)


def make_clip(key: str, num_frames: int = 24, hw=(96, 128), seed: int = 0, fps: float = 12.0) -> ClipSample:
    """The fixture clip as a ClipSample (real H.264 mp4)."""
    gt = draw_clip(num_frames, hw, seed)
    h, w = hw
    meta = ClipMeta(source=f"fixture://{key}", video_id=key.split("_")[0], start_frame=0, num_frames=num_frames,
                    fps=fps, width=w, height=h, keypoint_format="openpose_18", object_labels=["box"],
                    annotators={"segment": "oracle@1", "pose": "oracle@1", "depth": "oracle@1"})
    return ClipSample(key=key, video=encode_mp4(gt.frames, fps), meta=meta, character_mask=gt.character,
                      object_masks=gt.objects, keypoints=gt.keypoints, depth=gt.depth)


@lru_cache(maxsize=64)
def synth_video(index: int, num_frames: int, hw: tuple[int, int], seed: int = 0):
    """Video ``index`` of the synthetic world (cached: tests share renders)."""
    return render_video(SynthConfig(seed=seed, height=hw[0], width=hw[1], num_frames=num_frames), index)


def synth_clip(index: int, num_frames: int = 16, hw=(96, 128), seed: int = 0) -> ClipSample:
    """Video ``index`` of the synthetic world as a ClipSample (real H.264 mp4, exact annotations)."""
    video = synth_video(index, num_frames, tuple(hw), seed)
    h, w = hw
    meta = ClipMeta(source=f"synthetic://{video.name}", video_id=video.name, start_frame=0, num_frames=num_frames,
                    fps=video.fps, width=w, height=h, keypoint_format=video.keypoint_format,
                    object_labels=list(video.object_labels), extra={"motion": video.motion},
                    annotators={"localise": "oracle@1", "segment": "oracle@1", "pose": "oracle@1", "depth": "oracle@1"})
    return ClipSample(key=f"{video.name}_{0:06d}", video=encode_mp4(video.frames, video.fps), meta=meta,
                      character_mask=video.character_mask, object_masks=video.object_masks,
                      keypoints=video.keypoints, depth=video.depth)


def write_shard_folder(folder, num_clips: int, clips_per_shard: int = 4, num_frames: int = 16, hw=(96, 128),
                       seed: int = 0) -> list:
    """Write synthetic videos 0..num_clips-1 into shards of ``clips_per_shard``; returns the tar paths."""
    with ShardWriter(folder, max_count=clips_per_shard) as writer:
        for i in range(num_clips):
            writer.write(synth_clip(i, num_frames, hw, seed))
    return writer.written


@pytest.fixture
def shard_folder(tmp_path):
    """Factory: ``shard_folder(num_clips, clips_per_shard=4, ...)`` -> folder path with the shards."""

    def make(num_clips: int, **kwargs):
        folder = tmp_path / f"shards{len(list(tmp_path.iterdir()))}"
        write_shard_folder(folder, num_clips, **kwargs)
        return folder

    return make


@pytest.fixture(scope="session")
def synth_shards(tmp_path_factory):
    """9 synthetic clips (8 frames of 48 x 64) in 5 shards; shared by the session, do not modify."""
    folder = tmp_path_factory.mktemp("synth_shards")
    write_shard_folder(folder, 9, clips_per_shard=2, num_frames=8, hw=(48, 64))
    return folder
