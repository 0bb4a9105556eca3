"""Structured depth lives only on the skeleton; the reference is the character on a random background."""

import numpy as np
import pytest

from dataset.reference import CLIP_SIZE, clip_view, random_background, reference_image
from dataset.struct_depth import skeleton_mask, structured_depth


def _skeleton(t=2, hw=(20, 30)):
    sk = np.zeros((t, *hw, 3), np.uint8)
    sk[:, 5, 3:25, 0] = 255
    sk[:, 2:18, 10, 2] = 90
    return sk


def test_zero_outside_the_skeleton_and_in_unit_range():
    rng = np.random.default_rng(0)
    depth = rng.uniform(1, 5, (2, 20, 30)).astype(np.float32)
    sd = structured_depth(depth, _skeleton())
    on = skeleton_mask(_skeleton())
    assert np.all(sd[~on] == 0) and np.all(sd[on] > 0)
    assert sd.max() == pytest.approx(1.0) and sd[on].min() == pytest.approx(0.1)


def test_nearer_is_brighter_and_one_range_for_the_clip():
    depth = np.full((2, 20, 30), 4.0, np.float32)
    depth[0, 5, 3:10] = 2.0  # near part in frame 0 only
    sd = structured_depth(depth, _skeleton())
    assert sd[0, 5, 5] == pytest.approx(1.0)
    assert sd[1, 5, 5] == pytest.approx(0.1)  # frame 1 is normalised with frame 0's range


def test_unknown_depth_and_empty_skeleton_give_zero():
    depth = np.full((2, 20, 30), np.nan, np.float32)
    assert not structured_depth(depth, _skeleton()).any()
    assert not structured_depth(np.ones((2, 20, 30), np.float32), np.zeros((2, 20, 30, 3), np.uint8)).any()


def test_flat_depth_on_skeleton_is_one():
    sd = structured_depth(np.full((2, 20, 30), 3.0, np.float32), _skeleton())
    assert set(np.unique(sd)) == {0.0, 1.0}


def _frame_with_person():
    frame = np.full((120, 90, 3), 30, np.uint8)
    mask = np.zeros((120, 90), bool)
    mask[20:100, 60:80] = True  # off-centre, tall character
    frame[mask] = (200, 10, 10)
    return frame, mask


def _is_person(image):
    return np.abs(image.astype(int) - (200, 10, 10)).max(axis=-1) <= 3


def test_reference_centres_the_character_on_a_random_background():
    frame, mask = _frame_with_person()
    a = reference_image(frame, mask, (64, 48), np.random.default_rng(1))
    b = reference_image(frame, mask, (64, 48), np.random.default_rng(2))
    assert a.shape == (64, 48, 3)
    assert tuple(a[32, 24]) == (200, 10, 10) and tuple(b[32, 24]) == (200, 10, 10)
    assert not np.array_equal(a[:, :5], b[:, :5])  # background differs with the seed
    assert not (np.abs(a[:, :5].astype(int) - 30).max(axis=-1) == 0).all()  # the frame's own background is gone
    red = _is_person(a)
    cols = np.nonzero(red.any(axis=0))[0]
    assert abs((cols[0] + cols[-1]) / 2 - 23.5) <= 1.5


def test_empty_character_mask_gives_pure_background():
    frame, _ = _frame_with_person()
    out = reference_image(frame, np.zeros((120, 90), bool), (32, 32), np.random.default_rng(0))
    assert _is_person(out).sum() < 3  # a random field may graze the colour by chance, not a figure


@pytest.mark.parametrize("hw", [(64, 48), (512, 512), (100, 300)])
def test_clip_view_is_square(hw):
    image = random_background(hw, np.random.default_rng(0))
    assert clip_view(image).shape == (CLIP_SIZE, CLIP_SIZE, 3)


def test_a_few_stray_background_pixels_do_not_squash_the_body_range():
    depth = np.full((2, 20, 30), 3.0, np.float32)
    depth[:, 5, 3:14] = 2.0  # near arm
    depth[:, 5, 24] = 40.0  # skeleton pixel off the body, on the far wall
    sd = structured_depth(depth, _skeleton())
    assert sd[0, 5, 5] == pytest.approx(1.0) and sd[0, 10, 10] == pytest.approx(0.1, abs=0.05)
