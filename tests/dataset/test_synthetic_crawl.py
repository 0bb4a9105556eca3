"""A synthetic crawl on disk: videos, exact sidecars, manifest, and contact sheets."""

import cv2
import numpy as np
import pyarrow.parquet as pq
import pytest

from dataset.synthetic import SynthConfig, contact_sheet, load_sidecar, render_video, sidecar_for, write_crawl
from dataset.video import decode_mp4

CONFIG = SynthConfig(seed=4, num_videos=3, height=75, width=99, num_frames=5, fps=10.0)


@pytest.fixture(scope="module")
def crawl(tmp_path_factory):
    out = tmp_path_factory.mktemp("crawl")
    return out, write_crawl(out, CONFIG)


def test_manifest_has_one_row_per_video_with_relative_paths(crawl):
    out, manifest = crawl
    assert manifest == out / "manifest.parquet"
    rows = pq.read_table(manifest).to_pylist()
    assert [r["name"] for r in rows] == [CONFIG.video_name(i) for i in range(3)]
    for i, row in enumerate(rows):
        video = render_video(CONFIG, i)
        assert (out / row["path"]).is_file() and (out / row["sidecar"]).is_file()
        assert not row["path"].startswith("/")
        assert row["objects"] == video.object_labels and row["motion"] == video.motion
        assert (row["num_frames"], row["height"], row["width"], row["fps"]) == (5, 75, 99, 10.0)
        assert (row["body"], row["clothing"]) == (video.body, video.clothing)


def test_sidecar_round_trip_is_exact(crawl):
    out, manifest = crawl
    for i, row in enumerate(pq.read_table(manifest).to_pylist()):
        rendered, loaded = render_video(CONFIG, i), load_sidecar(out / row["sidecar"])
        assert loaded.frames is None
        for name in ("character_mask", "object_masks", "keypoints", "depth"):
            a, b = getattr(rendered, name), getattr(loaded, name)
            assert a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes(), name
        for name in ("object_labels", "fps", "motion", "body", "clothing", "seed", "index", "name", "keypoint_format"):
            assert getattr(rendered, name) == getattr(loaded, name), name


def test_videos_decode_to_the_rendered_frames(crawl):
    out, manifest = crawl
    row = pq.read_table(manifest).to_pylist()[1]
    frames = decode_mp4((out / row["path"]).read_bytes(), size=(75, 99))
    rendered = render_video(CONFIG, 1).frames
    assert frames.shape == rendered.shape
    assert np.abs(frames.astype(int) - rendered.astype(int)).mean() < 6.0


def test_sidecar_for_finds_crawl_videos_only(crawl, tmp_path):
    out, manifest = crawl
    row = pq.read_table(manifest).to_pylist()[0]
    assert sidecar_for(out / row["path"]) == out / row["sidecar"]
    assert sidecar_for(f"file://{out / row['path']}") == out / row["sidecar"]
    assert sidecar_for(out / "videos" / "missing.mp4") is None
    stray = tmp_path / "elsewhere" / f"{row['name']}.mp4"
    assert sidecar_for(stray) is None


def _mp4_difference(a: bytes, b: bytes) -> str:
    """Where two mp4 files of the same clip differ: in size, and in their decoded frames or not."""
    frames_a, frames_b = decode_mp4(a), decode_mp4(b)
    same = frames_a.shape == frames_b.shape and np.array_equal(frames_a, frames_b)
    return f"{len(a)} against {len(b)} bytes; decoded frames {'equal' if same else 'differ'}"


def test_rewriting_a_crawl_in_parallel_gives_identical_files(crawl, tmp_path):
    out, manifest = crawl
    again = write_crawl(tmp_path, CONFIG, workers=2)
    for row in pq.read_table(manifest).to_pylist():
        assert (out / row["sidecar"]).read_bytes() == (tmp_path / row["sidecar"]).read_bytes()
        first, second = (out / row["path"]).read_bytes(), (tmp_path / row["path"]).read_bytes()
        assert first == second, f"{row['path']}: {_mp4_difference(first, second)}"
    assert not list(tmp_path.rglob(".*tmp*"))
    assert pq.read_table(again).equals(pq.read_table(manifest))


def test_contact_sheet_shows_frames_and_truth_side_by_side(tmp_path):
    video = render_video(CONFIG, 0)
    path = contact_sheet(video, tmp_path / "sheet.png", frames=[0, 4])
    sheet = cv2.imread(str(path))[..., ::-1]
    factor = int(np.ceil(192 / 75))
    assert sheet.shape[1] == 4 * 99 * factor and sheet.shape[0] == 22 + 2 * 75 * factor
    first = sheet[22 : 22 + 75 * factor : factor, : 99 * factor : factor]
    assert np.array_equal(first, video.frames[0])
    masks = sheet[22 : 22 + 75 * factor : factor, 99 * factor : 2 * 99 * factor : factor].astype(int)
    red = ((masks[..., 0] - masks[..., 1]) > 60) & ((masks[..., 0] - masks[..., 2]) > 60)
    assert (red == video.character_mask[0]).mean() > 0.97
    video.frames = None  # as loaded from a sidecar: the sheet still shows the truth
    assert contact_sheet(video, tmp_path / "no_frames.png").is_file()
