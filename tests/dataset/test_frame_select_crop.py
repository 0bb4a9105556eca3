"""Frame choice and the shared crop: stride fitting, window placement, keypoints stay on their pixels."""

import numpy as np
import pytest

from dataset.crop import Window, choose_window, crop_images, crop_keypoints, crop_nearest, mask_box
from dataset.frame_select import fitted_stride, frame_indices, reference_index


@pytest.mark.parametrize(
    "total,n,stride,expected",
    [(64, 16, 4, 4), (31, 16, 4, 2), (16, 16, 4, 1), (1, 1, 5, 5), (100, 1, 3, 3), (17, 2, 30, 16)],
)
def test_fitted_stride(total, n, stride, expected):
    assert fitted_stride(total, n, stride) == expected


def test_too_short_clip_raises():
    with pytest.raises(ValueError, match="fewer"):
        frame_indices(10, 16, 1, np.random.default_rng(0))


@pytest.mark.parametrize("seed", range(5))
def test_indices_are_strided_and_inside(seed):
    rng = np.random.default_rng(seed)
    idx = frame_indices(50, 8, 6, rng)
    assert idx[0] >= 0 and idx[-1] < 50 and len(set(np.diff(idx))) == 1
    assert 0 <= reference_index(50, rng) < 50


def test_reference_covers_the_whole_clip():
    rng = np.random.default_rng(0)
    seen = {reference_index(20, rng) for _ in range(400)}
    assert seen == set(range(20))


@pytest.mark.parametrize("frame_hw,out_hw", [((96, 128), (64, 64)), ((200, 90), (64, 32)), ((51, 77), (40, 48))])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_window_has_the_output_aspect_and_holds_the_box(frame_hw, out_hw, seed):
    box = (20, 10, 40, 45)
    win = choose_window(frame_hw, out_hw, box, np.random.default_rng(seed), (0.5, 1.0), 0.1, 0.5)
    assert 0 <= win.x0 < win.x1 <= frame_hw[1] and 0 <= win.y0 < win.y1 <= frame_hw[0]
    assert abs(win.width / win.height - out_hw[1] / out_hw[0]) < 0.05
    assert win.x0 <= box[0] and win.x1 >= box[2] and win.y0 <= box[1] and win.y1 >= box[3]


def test_window_without_character_is_centred():
    win = choose_window((100, 100), (50, 50), None, None)
    assert win == Window(0, 0, 100, 100)


@pytest.mark.parametrize("win", [Window(10, 5, 74, 69), Window(0, 0, 32, 32), Window(3, 7, 51, 43)])
def test_keypoints_stay_on_their_pixels(win):
    out_hw = (64, 64)
    masks = np.zeros((1, 80, 96), bool)
    pts = np.array([[[20, 30, 1], [40, 12, 1], [win.x0 + 1, win.y0 + 1, 1]]], np.float32)
    for x, y, _ in pts[0]:
        masks[0, int(y), int(x)] = True
    cropped = crop_nearest(masks, win, out_hw)
    moved = crop_keypoints(pts, win, out_hw)
    for x, y, _ in moved[0]:
        if 0 <= x < out_hw[1] and 0 <= y < out_hw[0]:
            assert cropped[0, int(round(y)), int(round(x))], (x, y)


def test_depth_at_lower_resolution_follows_the_frame_window():
    depth = np.arange(12 * 16, dtype=np.float32).reshape(1, 12, 16)  # frame is 48 x 64, depth 1/4
    win = Window(16, 8, 48, 40)
    out = crop_nearest(depth, win, (32, 32), frame_hw=(48, 64))
    assert out[0, 0, 0] == depth[0, 2, 4] and out[0, -1, -1] == depth[0, 9, 11]


def test_crop_images_shape_and_content():
    frames = np.zeros((2, 40, 60, 3), np.uint8)
    frames[:, 10:20, 30:40] = 200
    out = crop_images(frames, Window(20, 0, 60, 40), (20, 20))
    assert out.shape == (2, 20, 20, 3)
    assert out[:, 7, 7].min() == 200 and out[:, 15, 15].max() == 0
    assert mask_box(out[..., 0] > 100) == (5, 5, 10, 10)
