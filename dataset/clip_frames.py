"""Decode only the frames a training sample uses, from a raw shard sample.

:func:`dataset.schema.decode_sample` turns every frame of a clip into arrays; a sample needs 16
frames and a reference out of clips that may hold hundreds. Here the metadata is read first,
the caller picks frame indices, and only those frames are unpacked: mask bits are sliced per
frame out of the packed array, depth is dequantised per frame, and the mp4 is decoded only up
to the last wanted frame. The checks match ``decode_sample``'s: a sample that breaks the schema
raises :class:`~dataset.schema.SampleDecodeError` naming its member.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .schema import (ClipMeta, ClipSample, SampleDecodeError, _load_npz, _need,
                     dequantise_depth)
from .stage_timer import NULL_TIMER
from .video import decode_mp4


@dataclass
class ClipFrames:
    """Chosen frames of one clip: row i of every array is clip frame ``indices[i]``."""

    key: str
    meta: ClipMeta
    indices: np.ndarray  # int64 [N]
    frames: np.ndarray  # uint8 [N, H, W, 3]
    character: np.ndarray  # bool [N, H, W]
    objects: np.ndarray  # bool [N, K, H, W]
    keypoints: np.ndarray  # float32 [N, J, 3]
    depth: np.ndarray  # float32 [N, Hd, Wd], NaN unknown


def unpack_frames(bits: np.ndarray, shape, indices) -> np.ndarray:
    """Rows ``indices`` of a bit-packed bool array of ``shape`` (frames first), without the rest."""
    shape = tuple(int(s) for s in shape)
    count, per_frame = int(np.prod(shape)), int(np.prod(shape[1:]))
    if bits.dtype != np.uint8 or bits.size != (count + 7) // 8:
        raise ValueError(f"{bits.size} packed bytes cannot hold a {shape} mask")
    out = np.empty((len(indices), per_frame), bool)
    for row, t in enumerate(indices):
        start = int(t) * per_frame
        chunk = np.unpackbits(bits[start // 8 : (start + per_frame + 7) // 8 + 1])
        out[row] = chunk[start % 8 : start % 8 + per_frame]
    return out.reshape(len(indices), *shape[1:])


def _masks(key: str, raw: dict, meta: ClipMeta, indices) -> tuple[np.ndarray, np.ndarray]:
    arrays = _load_npz(key, "mask.npz", raw["mask.npz"])
    _need(key, "mask.npz", arrays, ("character_bits", "character_shape", "objects_bits", "objects_shape"))
    t, h, w, k = meta.num_frames, meta.height, meta.width, len(meta.object_labels)
    expected = {"character": (t, h, w), "objects": (t, k, h, w)}
    out = []
    for name, shape in expected.items():
        if tuple(int(s) for s in arrays[f"{name}_shape"]) != shape:
            raise SampleDecodeError(key, "mask.npz", f"{name} shape {arrays[f'{name}_shape']} != {shape}")
        try:
            out.append(unpack_frames(arrays[f"{name}_bits"], shape, indices))
        except ValueError as exc:
            raise SampleDecodeError(key, "mask.npz", str(exc)) from exc
    return out[0], out[1]


def _pose_depth(key: str, raw: dict, meta: ClipMeta, indices) -> tuple[np.ndarray, np.ndarray]:
    pose = _load_npz(key, "pose.npz", raw["pose.npz"])
    _need(key, "pose.npz", pose, ("keypoints", "format"))
    if str(pose["format"]) != meta.keypoint_format:
        raise SampleDecodeError(key, "pose.npz", f"format {pose['format']} != json's {meta.keypoint_format}")
    kps = pose["keypoints"]
    if kps.ndim != 3 or kps.shape[0] != meta.num_frames or kps.shape[2] != 3:
        raise SampleDecodeError(key, "pose.npz", f"keypoints {kps.shape} are not [T={meta.num_frames}, J, 3]")
    depth = _load_npz(key, "depth.npz", raw["depth.npz"])
    _need(key, "depth.npz", depth, ("depth", "range"))
    codes = depth["depth"]
    if codes.ndim != 3 or codes.shape[0] != meta.num_frames:
        raise SampleDecodeError(key, "depth.npz", f"depth {codes.shape} is not [T={meta.num_frames}, Hd, Wd]")
    lo, hi = (float(v) for v in depth["range"])
    return kps[indices].astype(np.float32), dequantise_depth(codes[indices], lo, hi)


def decode_frames(raw: dict, meta: ClipMeta, indices, timer=NULL_TIMER) -> ClipFrames:
    """The frames ``indices`` (any order, repeats allowed) of a raw shard sample."""
    key = str(raw["__key__"])
    indices = np.asarray(indices, np.int64)
    if indices.size and (indices.min() < 0 or indices.max() >= meta.num_frames):
        raise SampleDecodeError(key, "json", f"frames {indices.tolist()} outside a clip of {meta.num_frames}")
    with timer("decode_members"):
        character, objects = _masks(key, raw, meta, indices)
        keypoints, depth = _pose_depth(key, raw, meta, indices)
    with timer("decode_video"):
        try:
            frames = decode_mp4(bytes(raw["mp4"]), size=(meta.height, meta.width), indices=indices)
        except Exception as exc:  # PyAV raises many types for broken streams
            raise SampleDecodeError(key, "mp4", f"cannot decode ({type(exc).__name__}: {exc})") from exc
    return ClipFrames(key, meta, indices, frames, character, objects, keypoints, depth)


def frames_of(clip: ClipSample, indices) -> ClipFrames:
    """The same from a decoded in-memory clip (tests, inspection)."""
    indices = np.asarray(indices, np.int64)
    try:
        frames = decode_mp4(clip.video, size=(clip.meta.height, clip.meta.width), indices=indices)
    except Exception as exc:
        raise SampleDecodeError(clip.key, "mp4", f"cannot decode ({type(exc).__name__}: {exc})") from exc
    return ClipFrames(clip.key, clip.meta, indices, frames, clip.character_mask[indices], clip.object_masks[indices],
                      clip.keypoints[indices].astype(np.float32), clip.depth[indices])
