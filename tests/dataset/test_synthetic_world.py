"""Synthetic videos are deterministic per (seed, index), varied, and any size or length works."""

import numpy as np
import pytest

from dataset.synthetic import SynthConfig, render_video
from dataset.synthetic.crawl import sidecar_bytes
from dataset.synthetic.scene import plan_video

SMALL = dict(height=64, width=80, num_frames=4, fps=8.0)
ARRAYS = ("frames", "character_mask", "object_masks", "keypoints", "depth")


def _same(a, b) -> bool:
    return a.object_labels == b.object_labels and all(
        getattr(a, n).tobytes() == getattr(b, n).tobytes() and getattr(a, n).shape == getattr(b, n).shape
        for n in ARRAYS
    )


def test_same_seed_gives_the_same_bytes():
    config = SynthConfig(seed=11, num_videos=3, **SMALL)
    for index in range(3):
        a, b = render_video(config, index), render_video(config, index)
        assert _same(a, b)
        assert sidecar_bytes(a) == sidecar_bytes(b)


def test_different_seed_or_index_gives_different_videos():
    a = render_video(SynthConfig(seed=1, **SMALL), 0)
    b = render_video(SynthConfig(seed=2, **SMALL), 0)
    c = render_video(SynthConfig(seed=1, **SMALL), 5)
    assert not np.array_equal(a.depth, b.depth) and not np.array_equal(a.frames, b.frames)
    assert not np.array_equal(a.depth, c.depth)


def test_a_video_does_not_depend_on_crawl_size():
    assert _same(render_video(SynthConfig(num_videos=2, **SMALL), 1), render_video(SynthConfig(num_videos=50, **SMALL), 1))


def test_crawl_varies_motion_body_clothing_and_objects():
    config = SynthConfig(seed=0, num_videos=40)
    plans = [plan_video(config, i) for i in range(40)]
    assert {p.motion for p in plans} == set(config.motions)
    assert len({p.body.build for p in plans}) == 3 and len({p.outfit.clothing for p in plans}) == 4
    assert {label for p in plans for label in p.labels} == set(config.objects)
    assert len({p.backdrop for p in plans}) == 40


@pytest.mark.parametrize("size,frames", [((97, 131), 3), ((131, 97), 1), ((16, 16), 2)])
def test_odd_sizes_and_single_frames(size, frames):
    h, w = size
    video = render_video(SynthConfig(height=h, width=w, num_frames=frames, fps=5.0), 2)
    k = len(video.object_labels)
    assert video.frames.shape == (frames, h, w, 3) and video.frames.dtype == np.uint8
    assert video.character_mask.shape == (frames, h, w) and video.character_mask.dtype == bool
    assert video.object_masks.shape == (frames, k, h, w)
    assert video.keypoints.shape == (frames, 18, 3) and video.keypoints.dtype == np.float32
    assert video.depth.shape == (frames, h, w) and video.depth.dtype == np.float32
    assert np.isfinite(video.depth).all() and video.character_mask.any()


def test_restricting_motions_and_objects_is_obeyed():
    config = SynthConfig(num_videos=12, motions=("squat",), objects=("cup",), object_rate=1.0, **SMALL)
    plans = [plan_video(config, i) for i in range(12)]
    assert {p.motion for p in plans} == {"squat"} and {tuple(p.labels) for p in plans} == {("cup",)}
    bare = SynthConfig(num_videos=6, objects=(), **SMALL)
    assert all(render_video(bare, i).object_masks.shape[1] == 0 for i in range(2))


@pytest.mark.parametrize(
    "bad",
    [dict(height=8), dict(num_frames=0), dict(fps=0.0), dict(motions=("moonwalk",)), dict(motions=()),
     dict(objects=("sofa",)), dict(object_rate=1.5), dict(name_prefix="a.b"), dict(num_videos=-1), dict(seed=-3)],
)  # fmt: skip
def test_config_rejects_nonsense(bad):
    with pytest.raises(ValueError):
        SynthConfig(**bad)


def test_keypoints_off_frame_are_hidden():
    # A frame narrower than the body: hands and shoulders fall outside it.
    video = render_video(SynthConfig(height=128, width=16, num_frames=3, motions=("dance",), objects=()), 0)
    x, y, vis = video.keypoints[..., 0], video.keypoints[..., 1], video.keypoints[..., 2]
    outside = (np.round(x) < 0) | (np.round(x) >= 16) | (np.round(y) < 0) | (np.round(y) >= 128)
    assert outside.any() and not vis[outside].any()
    assert vis[~outside].any()


def test_long_walks_pace_to_and_fro_inside_the_frame():
    video = render_video(SynthConfig(height=64, width=64, num_frames=40, fps=2.0, motions=("walk",), objects=()), 0)
    assert video.character_mask.any(axis=(1, 2)).all()
    centre = np.array([np.nonzero(m.any(axis=0))[0].mean() for m in video.character_mask])
    steps = np.sign(np.diff(centre))
    assert (steps > 0).sum() > 5 and (steps < 0).sum() > 5  # it turned back at least once
