"""Reading source videos: probing and cutting into re-encoded clips. Runs inside the sandbox child.

Both functions return plain dicts (picklable, small): a known problem with the input is a
``{"status": ..., "reason": ...}`` answer, never an exception. Sources are opened through
fsspec, so object-storage URLs decode the same way as local files.
"""

from __future__ import annotations

import av
import fsspec
import numpy as np

from dataset.video import encode_mp4

from .rows import FAILED, OK, SKIPPED
from .timeline import ClipWindow, FrameSelector, clip_fps, display_frame, is_cut, output_size, rotation_turns, thumbnail


def _problem(status: str, reason: str, detail: str = "") -> dict:
    return {"status": status, "reason": reason, "detail": detail}


def _check_file(source: str) -> dict | None:
    fs, path = fsspec.core.url_to_fs(source)
    if not fs.exists(path):
        return _problem(FAILED, "missing_file")
    if fs.isdir(path):
        return _problem(SKIPPED, "is_directory")
    if fs.size(path) == 0:
        return _problem(FAILED, "empty_file")
    return None


def _stream_fps(stream) -> float:
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    return float(rate) if rate else 0.0


def probe_video(source: str, max_pixels: int, min_frames: int) -> dict:
    """Container facts of one source; decodes only the first frame (for rotation and validity)."""
    problem = _check_file(source)
    if problem:
        return problem
    try:
        with fsspec.open(source, "rb") as f, av.open(f, mode="r") as container:
            if not container.streams.video:
                return _problem(SKIPPED, "no_video_stream")
            stream = container.streams.video[0]
            info = {"codec": stream.codec_context.name, "width": stream.codec_context.width,
                    "height": stream.codec_context.height, "fps": _stream_fps(stream),
                    "num_frames": int(stream.frames or 0)}
            if stream.duration is not None and stream.time_base is not None:
                info["duration"] = float(stream.duration * stream.time_base)
            elif container.duration is not None:
                info["duration"] = container.duration / av.time_base
            first = next(container.decode(stream), None)
            if first is None:
                return _problem(FAILED, "no_decodable_frame")
            info["rotation"] = rotation_turns(getattr(first, "rotation", 0) or 0) * 90
    except av.error.FFmpegError as exc:
        return _problem(FAILED, "unreadable_container", f"{type(exc).__name__}: {exc}")
    if info["width"] * info["height"] > max_pixels:
        return _problem(SKIPPED, "resolution_too_large", f"{info['width']}x{info['height']}")
    if 0 < info["num_frames"] < min_frames:
        return {**info, **_problem(SKIPPED, "too_few_frames", f"{info['num_frames']} frames")}
    return {**info, "status": OK, "reason": ""}


def _encode_clip(indices: list[int], frames: np.ndarray, fps: float, crf: int) -> dict:
    return {"start_frame": indices[0], "source_frames": indices, "mp4": encode_mp4(frames, fps, crf=crf),
            "clip_frames": len(indices), "clip_height": int(frames.shape[1]), "clip_width": int(frames.shape[2])}


def cut_clips(source: str, source_fps: float, rotation: int, params: dict) -> dict:
    """Decode once, resample to the clip rate, rotate, resize, split at shot cuts; clips as mp4 bytes.

    ``params``: target_fps, clip_frames, min_frames, short_side, cut_threshold, max_clips, crf.
    """
    fps = clip_fps(source_fps, params["target_fps"])
    selector = FrameSelector(fps, source_fps)
    window = ClipWindow(params["clip_frames"], params["min_frames"])
    turns, clips, decoded, previous, size = rotation_turns(rotation), [], 0, None, None
    try:
        with fsspec.open(source, "rb") as f, av.open(f, mode="r") as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            for index, frame in enumerate(container.decode(stream)):
                decoded += 1
                copies = selector.copies(frame.time if frame.time is not None else index / source_fps)
                if not copies:
                    continue
                image = frame.to_ndarray(format="rgb24")
                if size is None:
                    upright = image.shape[:2] if turns % 2 == 0 else image.shape[1::-1]
                    size = output_size(upright[0], upright[1], params["short_side"])
                image = display_frame(image, turns, size)
                small = thumbnail(image)
                for copy in range(copies):
                    cut = copy == 0 and is_cut(previous, small, params["cut_threshold"])
                    clips += [_encode_clip(i, fr, fps, params["crf"]) for i, fr in window.add(image, index, cut)]
                previous = small
                if len(clips) >= params["max_clips"]:
                    break
    except av.error.FFmpegError as exc:
        if decoded == 0:
            return _problem(FAILED, "decode_error", f"{type(exc).__name__}: {exc}")
        # A stream that breaks part-way keeps the clips completed before the break.
    if len(clips) < params["max_clips"]:
        clips += [_encode_clip(i, fr, fps, params["crf"]) for i, fr in window.flush()]
    clips = clips[: params["max_clips"]]
    return {"status": OK, "reason": "", "fps": fps, "decoded": decoded, "clips": clips}
