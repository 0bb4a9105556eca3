"""Shape-agnostic mask Mf: covers Mc, box at one block, Mc at one block per pixel, edge cases."""

import numpy as np
import pytest

from dataset.agnostic_mask import inference_block_counts, shape_agnostic_mask, shape_agnostic_masks
from dataset.crop import mask_box


def _blob(hw, seed):
    rng = np.random.default_rng(seed)
    m = np.zeros(hw, bool)
    for _ in range(4):
        y, x = rng.integers(0, hw[0]), rng.integers(0, hw[1])
        m[max(0, y - 5) : y + 6, max(0, x - 3) : x + 4] = True
    return m


@pytest.mark.parametrize("hw", [(37, 23), (64, 64), (1, 9)])
@pytest.mark.parametrize("k", [(1, 1), (2, 3), (7, 5), (40, 40), (1000, 1)])
@pytest.mark.parametrize("seed", [0, 1])
def test_mf_always_covers_mc(hw, k, seed):
    mc = _blob(hw, seed)
    mf = shape_agnostic_mask(mc, *k)
    assert not (mc & ~mf).any()
    box = mask_box(mc)
    outside = np.ones(hw, bool)
    outside[box[1] : box[3], box[0] : box[2]] = False
    assert not (mf & outside).any()  # never beyond the character's box


def test_one_block_gives_the_bounding_box():
    mc = _blob((50, 40), 3)
    x0, y0, x1, y1 = mask_box(mc)
    expected = np.zeros_like(mc)
    expected[y0:y1, x0:x1] = True
    assert np.array_equal(shape_agnostic_mask(mc, 1, 1), expected)


def test_one_block_per_pixel_gives_the_mask():
    mc = _blob((50, 40), 4)
    x0, y0, x1, y1 = mask_box(mc)
    assert np.array_equal(shape_agnostic_mask(mc, y1 - y0, x1 - x0), mc)


def test_a_touched_block_is_all_ones():
    mc = np.zeros((10, 10), bool)
    mc[0, 0] = mc[9, 9] = True  # box is the whole frame; 2 x 2 blocks of 5 x 5
    mf = shape_agnostic_mask(mc, 2, 2)
    assert mf[:5, :5].all() and mf[5:, 5:].all()
    assert not mf[:5, 5:].any() and not mf[5:, :5].any()


@pytest.mark.parametrize("k", [(1, 1), (3, 4)])
def test_empty_and_full_masks(k):
    assert not shape_agnostic_mask(np.zeros((12, 9), bool), *k).any()
    assert shape_agnostic_mask(np.ones((12, 9), bool), *k).all()


def test_bad_block_counts_raise():
    with pytest.raises(ValueError):
        shape_agnostic_mask(np.ones((4, 4), bool), 0, 2)


def test_inference_blocks_are_ten_pixels():
    mc = np.zeros((300, 200), bool)
    mc[20:220, 50:110] = True  # 200 x 60 box
    assert inference_block_counts(mc) == (20, 6)
    assert inference_block_counts(np.zeros((5, 5), bool)) == (1, 1)


def test_training_draw_is_one_k_for_the_clip_and_seeded():
    masks = np.stack([_blob((48, 48), s) for s in range(3)])
    a = shape_agnostic_masks(masks, np.random.default_rng(7), max_blocks=6)
    b = shape_agnostic_masks(masks, np.random.default_rng(7), max_blocks=6)
    assert np.array_equal(a, b) and not (masks & ~a).any()
    infer = shape_agnostic_masks(masks, None)
    assert np.array_equal(infer[0], shape_agnostic_mask(masks[0], *inference_block_counts(masks[0])))
