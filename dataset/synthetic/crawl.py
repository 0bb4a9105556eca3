"""A synthetic crawl on disk: mp4 videos, one ground-truth sidecar each, and a parquet manifest.

Layout under ``out_dir``::

    videos/{name}.mp4       H.264 (dataset.video.encode_mp4), what a preprocessing job reads
    sidecars/{name}.npz     exact ground truth (masks bit-packed, keypoints, float32 depth)
    manifest.parquet        one row per video

The preprocessing pipeline treats ``videos/`` as any other crawl; its oracle annotators find a
video's truth with :func:`sidecar_for`. Every file is written under a temporary name and renamed,
so an interrupted run leaves no half-written file, and a rerun rewrites the same bytes.
"""

from __future__ import annotations

import io
import logging
import multiprocessing
import os
import time
import zipfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from dataset.schema import pack_masks, unpack_masks
from dataset.synthetic.config import SynthConfig
from dataset.synthetic.render import SynthVideo, render_video
from dataset.video import encode_mp4

log = logging.getLogger(__name__)

SIDECAR_VERSION = 1
VIDEOS, SIDECARS, MANIFEST = "videos", "sidecars", "manifest.parquet"
_TEXT_FIELDS = ("name", "motion", "body", "clothing", "keypoint_format")


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _npz_bytes(arrays: dict[str, np.ndarray], level: int = 1) -> bytes:
    """An npz (readable by ``np.load``) with a fixed timestamp, so equal arrays give equal bytes.

    Deflate level 1: float depth compresses about as well as at the default level 6, twice as fast.
    """
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, array in arrays.items():
            member = io.BytesIO()
            np.lib.format.write_array(member, np.asarray(array), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            zf.writestr(info, member.getvalue(), compress_type=zipfile.ZIP_DEFLATED, compresslevel=level)
    return buf.getvalue()


def sidecar_bytes(video: SynthVideo) -> bytes:
    """The sidecar of ``video`` as npz bytes (everything but the frames)."""
    arrays = {f"character_{k}": v for k, v in pack_masks(video.character_mask).items()}
    arrays.update({f"objects_{k}": v for k, v in pack_masks(video.object_masks).items()})
    arrays.update({name: np.asarray(getattr(video, name)) for name in _TEXT_FIELDS})
    arrays.update(
        version=np.asarray(SIDECAR_VERSION), object_labels=np.asarray(video.object_labels, dtype=str),
        keypoints=np.asarray(video.keypoints, np.float32), depth=np.asarray(video.depth, np.float32),
        fps=np.asarray(video.fps, np.float64), seed=np.asarray(video.seed), index=np.asarray(video.index),
    )  # fmt: skip
    return _npz_bytes(arrays)


def load_sidecar(path) -> SynthVideo:
    """Ground truth of one crawl video, exactly as rendered; ``frames`` is None (see the mp4)."""
    with np.load(Path(path), allow_pickle=False) as npz:
        a = {name: npz[name] for name in npz.files}
    if int(a["version"]) != SIDECAR_VERSION:
        raise ValueError(f"{path}: sidecar version {int(a['version'])}, this reader knows {SIDECAR_VERSION}")
    return SynthVideo(
        frames=None, character_mask=unpack_masks(a["character_bits"], a["character_shape"]),
        object_masks=unpack_masks(a["objects_bits"], a["objects_shape"]),
        object_labels=[str(s) for s in a["object_labels"]], keypoints=a["keypoints"], depth=a["depth"],
        fps=float(a["fps"]), seed=int(a["seed"]), index=int(a["index"]),
        **{name: str(a[name]) for name in _TEXT_FIELDS},
    )  # fmt: skip


def sidecar_for(video_path) -> Path | None:
    """The sidecar of a crawl video (``.../videos/x.mp4`` -> ``.../sidecars/x.npz``), or None."""
    path = Path(str(video_path).removeprefix("file://"))
    candidate = path.parent.parent / SIDECARS / f"{path.stem}.npz"
    return candidate if path.parent.name == VIDEOS and candidate.is_file() else None


def _manifest_row(video: SynthVideo, config: SynthConfig) -> dict:
    return {
        "path": f"{VIDEOS}/{video.name}.mp4", "sidecar": f"{SIDECARS}/{video.name}.npz", "name": video.name,
        "motion": video.motion, "objects": list(video.object_labels), "body": video.body,
        "clothing": video.clothing, "num_frames": video.num_frames, "fps": float(video.fps),
        "height": config.height, "width": config.width, "seed": config.seed, "index": video.index,
    }  # fmt: skip


_SCHEMA = pa.schema([
    ("path", pa.string()), ("sidecar", pa.string()), ("name", pa.string()), ("motion", pa.string()),
    ("objects", pa.list_(pa.string())), ("body", pa.string()), ("clothing", pa.string()),
    ("num_frames", pa.int32()), ("fps", pa.float64()), ("height", pa.int32()), ("width", pa.int32()),
    ("seed", pa.int64()), ("index", pa.int32()),
])  # fmt: skip


def _write_video(out: Path, config: SynthConfig, index: int) -> dict:
    video = render_video(config, index)
    _write_atomic(out / VIDEOS / f"{video.name}.mp4", encode_mp4(video.frames, video.fps))
    _write_atomic(out / SIDECARS / f"{video.name}.npz", sidecar_bytes(video))
    return _manifest_row(video, config)


def write_crawl(out_dir, config: SynthConfig, workers: int = 1) -> Path:
    """Render and write the crawl ``config`` defines under ``out_dir``; returns the manifest path.

    ``workers`` > 1 renders videos in that many processes; the files are the same either way.
    """
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    out = Path(out_dir)
    start = time.perf_counter()
    indices = range(config.num_videos)
    if workers == 1 or config.num_videos < 2:
        rows = [_write_video(out, config, i) for i in indices]
    else:
        # spawn, not fork: the caller may hold threads (Ray, torch) that a fork would copy mid-lock
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=min(workers, config.num_videos), mp_context=context) as pool:
            rows = list(pool.map(_write_video, [out] * len(indices), [config] * len(indices), indices))
    buf = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows, schema=_SCHEMA), buf)
    manifest = out / MANIFEST
    _write_atomic(manifest, buf.getvalue())
    seconds = time.perf_counter() - start
    log.info("wrote %d synthetic videos to %s in %.1f s (%.2f clips/s, %d worker(s))", len(rows), out, seconds,
             len(rows) / max(seconds, 1e-9), workers)  # fmt: skip
    return manifest
