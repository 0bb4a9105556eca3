"""A whole training sample from a real mp4 clip: conditions aligned, seeded, both modes."""

import cv2
import numpy as np
import pytest

from dataset.sample_config import SampleConfig
from dataset.clip_frames import unpack_frames
from dataset.schema import SampleDecodeError, decode_sample, encode_sample, pack_masks
from dataset.struct_depth import skeleton_mask
from dataset.training_sample import build_sample, build_sample_raw
from tests.dataset.conftest import PERSON_RGB, make_clip, synth_clip

CFG = dict(height=64, width=64, num_frames=6, stride=2)


@pytest.fixture(scope="module")
def clip():
    return make_clip("vid_000000", num_frames=20, hw=(96, 128), seed=11)


def _dilate(mask, r):
    k = np.ones((2 * r + 1, 2 * r + 1), np.uint8)
    return np.stack([cv2.dilate(m.astype(np.uint8), k) for m in mask]).astype(bool)


def _erode(mask):
    return np.stack([cv2.erode(m.astype(np.uint8), np.ones((3, 3), np.uint8)) for m in mask]).astype(bool)


@pytest.mark.parametrize("seed", range(4))
def test_solid_figure_pixels_sit_under_its_mask(clip, seed):
    s = build_sample(clip, SampleConfig(**CFG, scale_prob=0.5), np.random.default_rng(seed))
    person_px = np.abs(s.frames.astype(int) - PERSON_RGB).max(axis=-1)
    assert np.median(person_px[_erode(s.character)]) < 30  # mp4 is lossy, the figure is solid
    assert (person_px[~_dilate(s.character, 1)] < 30).mean() < 0.002


@pytest.mark.parametrize("index", [1, 3, 5])  # wave+cup+chair, turn+ball+table, walk+box+table+chair
@pytest.mark.parametrize("seed,hw", [(0, (64, 64)), (1, (96, 64))])
def test_conditions_align_with_the_synthetic_ground_truth(index, seed, hw):
    clip = synth_clip(index, num_frames=16, hw=(96, 128))
    cfg = SampleConfig(height=hw[0], width=hw[1], num_frames=6, stride=2, scale_prob=1.0, scale_range=(0.8, 1.2))
    s = build_sample(clip, cfg, np.random.default_rng(seed))
    on_skeleton = skeleton_mask(s.skeleton)
    off_figure = on_skeleton & ~_dilate(s.character | s.object_mask, 2)
    assert on_skeleton.sum() > 500 and off_figure.sum() < 0.02 * on_skeleton.sum()
    assert not s.struct_depth[~on_skeleton].any() and s.struct_depth[on_skeleton].max() == 255
    assert not s.objects[~s.object_mask].any() and not s.environment[s.mask].any()
    assert s.object_mask.any() == bool(clip.meta.object_labels)


def test_without_scale_augmentation_mf_covers_the_character(clip):
    for seed in range(5):
        s = build_sample(clip, SampleConfig(**CFG, scale_prob=0.0), np.random.default_rng(seed))
        assert s.scale == 1.0 and not (s.character & ~s.mask).any()


def test_enlarging_sometimes_puts_the_character_outside_mf(clip):
    cfg = SampleConfig(**CFG, scale_prob=1.0, scale_range=(1.2, 1.4))
    samples = [build_sample(clip, cfg, np.random.default_rng(i)) for i in range(4)]
    outside = [(s.character & ~s.mask).sum() for s in samples]
    assert max(outside) > 20


def test_same_seed_same_sample_other_seed_other_sample(clip):
    cfg = SampleConfig(**CFG)
    a, b = (build_sample(clip, cfg, np.random.default_rng(3)) for _ in range(2))
    c = build_sample(clip, cfg, np.random.default_rng(4))
    for name in ("frames", "environment", "mask", "objects", "skeleton", "struct_depth", "reference", "reference_clip"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
    assert not all(np.array_equal(getattr(a, n), getattr(c, n)) for n in ("frames", "mask", "reference"))


def test_image_mode_has_one_frame(clip):
    s = build_sample(clip, SampleConfig(**CFG, mode="image"), np.random.default_rng(0))
    assert s.frames.shape == (1, 64, 64, 3) and s.skeleton.shape == (1, 64, 64, 3)
    assert s.reference.shape == (64, 64, 3) and s.reference_clip.shape == (224, 224, 3)


def test_inference_rules_without_randomness(clip):
    cfg = SampleConfig(**CFG, train=False)
    a = build_sample(clip, cfg, np.random.default_rng(0))
    assert a.scale == 1.0 and not (a.character & ~a.mask).any()


def test_clip_too_short_is_a_decode_error():
    short = make_clip("short_000000", num_frames=4, hw=(48, 64))
    with pytest.raises(SampleDecodeError, match="fewer"):
        build_sample(short, SampleConfig(**CFG), np.random.default_rng(0))


def test_broken_video_is_a_decode_error(clip):
    from dataclasses import replace

    broken = replace(clip, video=clip.video[: len(clip.video) // 3])
    with pytest.raises(SampleDecodeError) as info:
        build_sample(broken, SampleConfig(**CFG), np.random.default_rng(0))
    assert info.value.member == "mp4"


@pytest.mark.parametrize("mode", ["video", "image"])
def test_selective_decoding_gives_the_same_sample(mode):
    clip = synth_clip(5, num_frames=16, hw=(96, 128))
    raw = encode_sample(clip)
    cfg = SampleConfig(**CFG, mode=mode, scale_prob=1.0)
    a = build_sample(decode_sample(raw), cfg, np.random.default_rng(9))
    b = build_sample_raw(raw, cfg, np.random.default_rng(9))
    for name in ("frames", "environment", "mask", "character", "objects", "skeleton", "struct_depth", "reference"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name


@pytest.mark.parametrize("hw", [(5, 7), (8, 8), (3, 1)])
def test_unpacking_single_frames_matches_unpacking_all(hw):
    masks = np.random.default_rng(0).random((6, 2, *hw)) > 0.5
    packed = pack_masks(masks)
    picks = [5, 0, 3, 3]
    assert np.array_equal(unpack_frames(packed["bits"], packed["shape"], picks), masks[picks])
    with pytest.raises(ValueError):
        unpack_frames(packed["bits"][:-1], packed["shape"], picks)


def test_raw_sample_with_a_bad_member_names_it():
    raw = encode_sample(synth_clip(0, num_frames=16, hw=(96, 128)))
    raw["pose.npz"] = b"garbage"
    with pytest.raises(SampleDecodeError) as info:
        build_sample_raw(raw, SampleConfig(**CFG), np.random.default_rng(0))
    assert info.value.member == "pose.npz"
