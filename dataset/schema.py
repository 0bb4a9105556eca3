"""Shard sample schema v1: the contract between preprocessing and the training data pipeline.

One WebDataset sample is one clip. Its members:

=============  ================================================================================
``mp4``        the clip, H.264 at a fixed fps (frames padded to even size; ``json`` has the size)
``json``       :class:`ClipMeta` as UTF-8 JSON, with ``schema_version``
``mask.npz``   ``character`` [T, H, W] and ``objects`` [T, K, H, W], bit-packed (np.packbits) and
               deflate-compressed
``pose.npz``   ``keypoints`` [T, J, 3] float32 (x, y in pixels of the clip frame, score in [0, 1])
               and ``format`` (a name from :mod:`dataset.keypoint_formats`)
``depth.npz``  ``depth`` [T, Hd, Wd] relative depth quantised to uint8 with a per-clip range
               (``lo``, ``hi``); 0 means "no depth here" (decoded as NaN). Hd x Wd may be smaller
               than the frame; the training pipeline resizes it.
=============  ================================================================================

Depth convention: larger = farther from the camera (a z-buffer), relative within a clip.
Derived conditions (shape-agnostic mask, skeleton images, structured depth, ...) are *not*
stored: they are randomised per epoch in the training pipeline.

Decoding a malformed or foreign sample raises :class:`SampleDecodeError`, naming key and member.
"""

from __future__ import annotations

import io
import json
from dataclasses import asdict, dataclass, field, fields

import numpy as np

SCHEMA_VERSION = 1
MEMBERS = ("mp4", "json", "mask.npz", "pose.npz", "depth.npz")
DEPTH_LEVELS = 255  # uint8 codes 1..255 carry depth; 0 marks "no depth"


class SampleDecodeError(ValueError):
    """A shard sample that does not follow this schema. Says which key and which member."""

    def __init__(self, key: str, member: str, reason: str):
        self.key, self.member, self.reason = key, member, reason
        super().__init__(f"sample {key!r}, member {member!r}: {reason}")


@dataclass
class ClipMeta:
    """Everything about a clip that is not a per-frame array."""

    source: str  # canonical path or URL of the source video
    video_id: str  # stable hash of ``source``
    start_frame: int  # first source frame of the clip
    num_frames: int
    fps: float
    width: int
    height: int
    keypoint_format: str
    object_labels: list[str] = field(default_factory=list)
    # Boxes the localiser found, in clip pixels: {"person": {frame: [x1,y1,x2,y2]}, "objects": ...}
    boxes: dict = field(default_factory=dict)
    scores: dict[str, float] = field(default_factory=dict)  # quality scores from qualify
    annotators: dict[str, str] = field(default_factory=dict)  # role -> "backend@version"
    extra: dict = field(default_factory=dict)
    schema_version: int = SCHEMA_VERSION

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), sort_keys=True).encode("utf-8")

    @classmethod
    def from_json(cls, raw: bytes) -> "ClipMeta":
        data = json.loads(raw.decode("utf-8"))
        names = {f.name for f in fields(cls)}
        missing = names - set(data) - {"object_labels", "boxes", "scores", "annotators", "extra"}
        if missing:
            raise KeyError(f"missing fields {sorted(missing)}")
        return cls(**{k: v for k, v in data.items() if k in names})


@dataclass
class ClipSample:
    """One clip with its annotations, in memory. Shapes: T frames, H x W pixels, K objects, J joints."""

    key: str
    video: bytes  # H.264 mp4
    meta: ClipMeta
    character_mask: np.ndarray  # bool [T, H, W]
    object_masks: np.ndarray  # bool [T, K, H, W]
    keypoints: np.ndarray  # float32 [T, J, 3]: x, y, score
    depth: np.ndarray  # float32 [T, Hd, Wd], NaN where unknown

    def __post_init__(self) -> None:
        t, h, w = self.meta.num_frames, self.meta.height, self.meta.width
        _check_shape("character_mask", self.character_mask, (t, h, w))
        if self.object_masks.ndim != 4 or self.object_masks.shape[0] != t or self.object_masks.shape[2:] != (h, w):
            raise ValueError(f"object_masks must be [T={t}, K, {h}, {w}], got {self.object_masks.shape}")
        if self.object_masks.shape[1] != len(self.meta.object_labels):
            raise ValueError(
                f"{self.object_masks.shape[1]} object masks but {len(self.meta.object_labels)} object labels"
            )
        if self.keypoints.ndim != 3 or self.keypoints.shape[0] != t or self.keypoints.shape[2] != 3:
            raise ValueError(f"keypoints must be [T={t}, J, 3], got {self.keypoints.shape}")
        if self.depth.ndim != 3 or self.depth.shape[0] != t:
            raise ValueError(f"depth must be [T={t}, Hd, Wd], got {self.depth.shape}")
        if "." in self.key:
            raise ValueError(f"key {self.key!r} must not contain '.' (WebDataset splits members at dots)")


def _check_shape(name: str, array: np.ndarray, shape: tuple) -> None:
    if tuple(array.shape) != tuple(shape):
        raise ValueError(f"{name} must have shape {shape}, got {tuple(array.shape)}")


def _npz_bytes(**arrays) -> bytes:
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    return buf.getvalue()


def pack_masks(masks: np.ndarray) -> dict[str, np.ndarray]:
    """Bit-pack a boolean array of any shape; :func:`unpack_masks` inverts it exactly."""
    masks = np.asarray(masks, dtype=bool)
    return {"bits": np.packbits(masks.reshape(-1)), "shape": np.asarray(masks.shape, dtype=np.int64)}


def unpack_masks(bits: np.ndarray, shape: np.ndarray) -> np.ndarray:
    shape = tuple(int(s) for s in shape)
    count = int(np.prod(shape))
    if bits.dtype != np.uint8 or bits.size != (count + 7) // 8:
        raise ValueError(f"{bits.size} packed bytes cannot hold a {shape} mask")
    return np.unpackbits(bits, count=count).astype(bool).reshape(shape)


def quantise_depth(depth: np.ndarray) -> tuple[np.ndarray, float, float]:
    """Float depth (NaN = unknown) -> uint8 codes 1..255 over the clip's range, 0 for NaN."""
    depth = np.asarray(depth, dtype=np.float32)
    valid = np.isfinite(depth)
    if not valid.any():
        return np.zeros(depth.shape, np.uint8), 0.0, 0.0
    lo, hi = float(depth[valid].min()), float(depth[valid].max())
    scale = (DEPTH_LEVELS - 1) / (hi - lo) if hi > lo else 0.0
    codes = np.zeros(depth.shape, np.uint8)
    codes[valid] = (np.rint((depth[valid] - lo) * scale) + 1).astype(np.uint8)
    return codes, lo, hi


def dequantise_depth(codes: np.ndarray, lo: float, hi: float) -> np.ndarray:
    step = (hi - lo) / (DEPTH_LEVELS - 1)
    depth = lo + (codes.astype(np.float32) - 1) * np.float32(step)
    depth[codes == 0] = np.nan
    return depth.astype(np.float32)


def depth_tolerance(lo: float, hi: float) -> float:
    """Largest error quantisation can introduce for a clip whose depth spans [lo, hi]."""
    return (hi - lo) / (DEPTH_LEVELS - 1) / 2 + 1e-6


def encode_sample(sample: ClipSample) -> dict[str, bytes | str]:
    """ClipSample -> WebDataset sample dict (``__key__`` plus the five members)."""
    codes, lo, hi = quantise_depth(sample.depth)
    return {
        "__key__": sample.key,
        "mp4": sample.video,
        "json": sample.meta.to_json(),
        "mask.npz": _npz_bytes(
            **{f"character_{k}": v for k, v in pack_masks(sample.character_mask).items()},
            **{f"objects_{k}": v for k, v in pack_masks(sample.object_masks).items()},
        ),
        "pose.npz": _npz_bytes(
            keypoints=np.asarray(sample.keypoints, np.float32), format=np.asarray(sample.meta.keypoint_format)
        ),
        "depth.npz": _npz_bytes(depth=codes, range=np.asarray([lo, hi], np.float64)),
    }


def _load_npz(key: str, member: str, raw: bytes) -> dict[str, np.ndarray]:
    try:
        with np.load(io.BytesIO(raw), allow_pickle=False) as npz:
            return {name: npz[name] for name in npz.files}
    except Exception as exc:  # zip, zlib and format errors all mean the same thing here
        raise SampleDecodeError(key, member, f"not a readable npz ({type(exc).__name__}: {exc})") from exc


def _need(key: str, member: str, arrays: dict, names: tuple[str, ...]) -> None:
    missing = [n for n in names if n not in arrays]
    if missing:
        raise SampleDecodeError(key, member, f"missing arrays {missing}")


def decode_meta(raw: dict) -> ClipMeta:
    """Check that every member is there and decode the metadata; :class:`SampleDecodeError` if not."""
    key = str(raw.get("__key__", "<no key>"))
    for member in MEMBERS:
        if not isinstance(raw.get(member), (bytes, bytearray)):
            raise SampleDecodeError(key, member, "member missing or not bytes")
    try:
        meta = ClipMeta.from_json(raw["json"])
    except Exception as exc:
        raise SampleDecodeError(key, "json", f"not clip metadata ({type(exc).__name__}: {exc})") from exc
    if meta.schema_version != SCHEMA_VERSION:
        raise SampleDecodeError(key, "json", f"schema_version {meta.schema_version}, this reader knows {SCHEMA_VERSION}")
    return meta


def decode_sample(raw: dict) -> ClipSample:
    """WebDataset sample dict (members as bytes) -> ClipSample, or :class:`SampleDecodeError`."""
    key = str(raw.get("__key__", "<no key>"))
    meta = decode_meta(raw)

    masks = _load_npz(key, "mask.npz", raw["mask.npz"])
    _need(key, "mask.npz", masks, ("character_bits", "character_shape", "objects_bits", "objects_shape"))
    pose = _load_npz(key, "pose.npz", raw["pose.npz"])
    _need(key, "pose.npz", pose, ("keypoints", "format"))
    depth = _load_npz(key, "depth.npz", raw["depth.npz"])
    _need(key, "depth.npz", depth, ("depth", "range"))
    if str(pose["format"]) != meta.keypoint_format:
        raise SampleDecodeError(key, "pose.npz", f"format {pose['format']} != json keypoint_format {meta.keypoint_format}")
    try:
        character = unpack_masks(masks["character_bits"], masks["character_shape"])
        objects = unpack_masks(masks["objects_bits"], masks["objects_shape"])
    except ValueError as exc:
        raise SampleDecodeError(key, "mask.npz", f"bit arrays do not match their shapes ({exc})") from exc
    lo, hi = (float(v) for v in depth["range"])
    try:
        return ClipSample(
            key=key,
            video=bytes(raw["mp4"]),
            meta=meta,
            character_mask=character,
            object_masks=objects,
            keypoints=pose["keypoints"].astype(np.float32),
            depth=dequantise_depth(depth["depth"], lo, hi),
        )
    except ValueError as exc:
        raise SampleDecodeError(key, "json", f"arrays disagree with the metadata ({exc})") from exc


def member_sizes(encoded: dict) -> dict[str, int]:
    """Bytes per member of an encoded sample (for size budgets and benchmarks)."""
    return {m: len(encoded[m]) for m in MEMBERS}
