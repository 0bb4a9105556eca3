"""mp4 bytes <-> uint8 frames, through PyAV (FFmpeg bundled in the wheel).

Clips travel between stages and live in shards as H.264 mp4 bytes, never as decoded frames.
H.264 in yuv420p needs even sizes: odd frames are padded by edge replication on encode, and
``decode_mp4(..., size=(h, w))`` crops the padding off again.
"""

from __future__ import annotations

import io
from fractions import Fraction

import av
import numpy as np


def _pad_even(frames: np.ndarray) -> np.ndarray:
    _, h, w, _ = frames.shape
    ph, pw = h % 2, w % 2
    if ph or pw:
        frames = np.pad(frames, ((0, 0), (0, ph), (0, pw), (0, 0)), mode="edge")
    return frames


def encode_mp4(frames: np.ndarray, fps: float, crf: int = 18, preset: str = "veryfast") -> bytes:
    """Encode uint8 RGB frames [T, H, W, 3] as an H.264 mp4 and return its bytes."""
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"frames must be uint8 [T, H, W, 3], got {frames.dtype} {frames.shape}")
    if len(frames) == 0:
        raise ValueError("cannot encode a video with no frames")
    frames = _pad_even(frames)
    buf = io.BytesIO()
    rate = Fraction(fps).limit_denominator(1001)
    with av.open(buf, mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=rate)
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": str(crf), "preset": preset}
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buf.getvalue()


def decode_mp4(data: bytes, size: tuple[int, int] | None = None, indices=None) -> np.ndarray:
    """Decode mp4 bytes to uint8 RGB [T, H, W, 3]; ``size=(h, w)`` crops encoder padding.

    ``indices`` (sorted or not) selects frames by position; decoding stops after the last one.
    """
    wanted = None if indices is None else sorted(set(int(i) for i in indices))
    out: dict[int, np.ndarray] = {}
    with av.open(io.BytesIO(data), mode="r") as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for i, frame in enumerate(container.decode(stream)):
            if wanted is None or i in wanted:
                out[i] = frame.to_ndarray(format="rgb24")
            if wanted is not None and i >= wanted[-1]:
                break
    order = list(range(len(out))) if indices is None else [int(i) for i in indices]
    missing = [i for i in order if i not in out]
    if missing:
        raise ValueError(f"video has {len(out)} decodable frames; asked for frame {missing[0]}")
    frames = np.stack([out[i] for i in order]) if order else np.zeros((0, 0, 0, 3), np.uint8)
    if size is not None:
        frames = frames[:, : size[0], : size[1]]
    return frames
