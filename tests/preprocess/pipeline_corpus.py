"""Inputs for the preprocessing tests: a small synthetic crawl and a corpus of awkward files.

The awkward corpus holds one input of each kind a crawl throws at the job (empty, truncated,
garbage, audio-only, one frame, huge, rotated, variable frame rate, no person, unicode name, a
folder named like a video, a manifest entry that does not exist). The valid ones are synthetic
videos with sidecars, so the oracle knows their exact ground truth.
"""

from __future__ import annotations

import io
import json
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from dataset.synthetic import SynthConfig, write_crawl
from dataset.synthetic.crawl import sidecar_bytes
from dataset.synthetic.render import SynthVideo, render_video
from preprocess.config import PreprocessConfig, apply_overrides

SYNTH = SynthConfig(seed=3, num_videos=4, height=96, width=128, num_frames=24, fps=8.0)
# 8 fps -> 4 fps: source frames 0, 2, ..., 22; clips of 6 frames start at source frames 0 and 12.
EXPECTED_STARTS = (0, 12)
TEST_OVERRIDES = [
    "clips.target_fps=4", "clips.clip_frames=6", "clips.min_frames=4", "clips.short_side=48",
    "clips.timeout_s=60", "probe.timeout_s=30", "probe.max_pixels=1000000",
    "probe.num_cpus=0.25", "clips.num_cpus=0.5", "annotate.num_cpus=0.5", "qualify.num_cpus=0.25",
    "annotate.batch_size=2", "qualify.min_main_component=0", "qualify.min_mask_stability=0",
    "ray.progress_every_s=1",
]


def pipeline_config(*extra: str) -> PreprocessConfig:
    return apply_overrides(PreprocessConfig(), TEST_OVERRIDES + list(extra))


def make_crawl(root: Path, num_videos: int = SYNTH.num_videos) -> Path:
    cfg = SynthConfig(**{**SYNTH.__dict__, "num_videos": num_videos})
    return write_crawl(root, cfg)


def _encode(frames: np.ndarray, pts: list[int] | None = None, rotation: int = 0, time_base=Fraction(1, 1000)) -> bytes:
    buf = io.BytesIO()
    with av.open(buf, mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=8)
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        if pts is not None:
            stream.time_base = time_base
            stream.codec_context.time_base = time_base
        if rotation:
            stream.set_display_rotation(rotation)
        for i, image in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            if pts is not None:
                frame.pts, frame.time_base = pts[i], time_base
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buf.getvalue()


def _audio_only() -> bytes:
    buf = io.BytesIO()
    with av.open(buf, mode="w", format="mp4") as container:
        stream = container.add_stream("aac", rate=16000)
        samples = (np.sin(np.linspace(0, 400, 16000)) * 0.3).astype(np.float32)[None]
        frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
        frame.sample_rate = 16000
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buf.getvalue()


def _with_sidecar(videos: Path, name: str, data: bytes, video: SynthVideo) -> None:
    (videos / f"{name}.mp4").write_bytes(data)
    (videos.parent / "sidecars" / f"{name}.npz").write_bytes(sidecar_bytes(video))


def make_awkward_corpus(root: Path) -> tuple[Path, dict[str, tuple[str, str]]]:
    """Writes the corpus and a JSONL manifest; returns (manifest, file name -> (status, reason))."""
    videos = root / "videos"
    (root / "sidecars").mkdir(parents=True)
    videos.mkdir()
    synth = render_video(SYNTH, 0)
    good = _encode(synth.frames)
    (videos / "zero.mp4").write_bytes(b"")
    (videos / "truncated.mp4").write_bytes(good[: len(good) // 2])
    (videos / "garbage.mp4").write_bytes(np.random.default_rng(0).integers(0, 256, 30000, np.uint8).tobytes())
    (videos / "audio_only.mp4").write_bytes(_audio_only())
    (videos / "single_frame.mp4").write_bytes(_encode(synth.frames[:1]))
    (videos / "huge.mp4").write_bytes(_encode(np.zeros((2, 1088, 1920, 3), np.uint8)))
    _with_sidecar(videos, "rotated", _encode(synth.frames, rotation=90), synth)
    pts = np.cumsum([0] + [90 if i % 3 else 200 for i in range(1, len(synth.frames))]).tolist()  # 5..11 fps
    _with_sidecar(videos, "vfr", _encode(synth.frames, pts=pts), synth)
    _with_sidecar(videos, "tänzer mit leerzeichen ü", good, synth)
    noise = np.random.default_rng(1).integers(0, 256, synth.frames.shape, np.uint8)
    empty = SynthVideo(frames=None, character_mask=np.zeros_like(synth.character_mask),
                       object_masks=np.zeros((len(noise), 0, *noise.shape[1:3]), bool), object_labels=[],
                       keypoints=np.zeros_like(synth.keypoints), depth=np.ones_like(synth.depth), fps=synth.fps)
    _with_sidecar(videos, "no_person", _encode(noise), empty)
    (videos / "folder.mp4").mkdir()
    expected = {
        "zero.mp4": ("failed", "empty_file"), "truncated.mp4": ("failed", "unreadable_container"),
        "garbage.mp4": ("failed", "unreadable_container"), "audio_only.mp4": ("skipped", "no_video_stream"),
        "single_frame.mp4": ("skipped", "too_few_frames"), "huge.mp4": ("skipped", "resolution_too_large"),
        "rotated.mp4": ("ok", ""), "vfr.mp4": ("ok", ""), "tänzer mit leerzeichen ü.mp4": ("ok", ""),
        "no_person.mp4": ("skipped", "no_person"), "folder.mp4": ("skipped", "is_directory"),
        "missing.mp4": ("failed", "missing_file"),
    }
    manifest = root / "manifest.jsonl"
    manifest.write_text("".join(json.dumps({"path": f"videos/{name}"}) + "\n" for name in expected), encoding="utf-8")
    return manifest, expected

