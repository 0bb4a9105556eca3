"""Clip-planning maths: resampling by timestamp, shot cuts, clip windows, rotation, resizing."""

from __future__ import annotations

import numpy as np
import pytest

from preprocess.timeline import (ClipWindow, clip_fps, is_cut, nearest_resize, output_size, resample_indices,
                                 rotate_points, rotation_turns, scale_points, thumbnail)


@pytest.mark.parametrize("source_fps, target, expected", [
    (30.0, 15.0, [0, 2, 4, 6]),  # halving
    (25.0, 10.0, [0, 2, 5, 7]),  # 2.5 source frames per clip frame
    (10.0, 15.0, [0, 1, 2, 3]),  # never upsampled: the clip keeps 10 fps
])  # fmt: skip
def test_constant_rate_resampling(source_fps, target, expected):
    times = [i / source_fps for i in range(8)]
    assert resample_indices(times, clip_fps(source_fps, target), source_fps)[:4] == expected


def test_gap_in_variable_rate_is_filled_by_the_frame_that_ends_it():
    times = [0.0, 0.1, 0.2, 0.8, 0.9]  # a 0.6 s hole: grid times 0.3 .. 0.8 all take frame 3
    assert resample_indices(times, 10.0, 10.0) == [0, 1, 2, 3, 3, 3, 3, 3, 3, 4]


def test_cut_detection_and_windows():
    dark, bright = np.zeros((8, 8, 3), np.uint8), np.full((8, 8, 3), 200, np.uint8)
    assert not is_cut(thumbnail(dark), thumbnail(dark), 0.25)
    assert is_cut(thumbnail(dark), thumbnail(bright), 0.25)
    window = ClipWindow(clip_frames=3, min_frames=2)
    done = []
    for i, cut in enumerate([False, False, False, False, True, False, False]):
        done += window.add(np.full((2, 2, 3), i, np.uint8), i, cut)
    done += window.flush()
    # frames 0-2 fill a clip; frame 3 alone before the cut is dropped; 4-6 form the last clip
    assert [indices for indices, _ in done] == [[0, 1, 2], [4, 5, 6]]


def test_a_frozen_gap_makes_no_clip():
    window = ClipWindow(clip_frames=3, min_frames=2)
    frame = np.zeros((2, 2, 3), np.uint8)
    done = [c for i in (0, 1, 2, 2, 2, 2, 3, 4) for c in window.add(frame, i, False)] + window.flush()
    starts = [indices[0] for indices, _ in done]
    assert starts == [0, 3]  # [0, 1, 2], then [2, 2, 2] dropped (frozen; a next clip could start on frame 2 too), then [3, 4]


@pytest.mark.parametrize("turns", [0, 1, 2, 3])
def test_rotate_points_follows_rot90(turns):
    image = np.zeros((5, 7), np.int64)
    image[1, 4] = 1  # y=1, x=4
    rotated = np.rot90(image, k=turns)
    y, x = np.argwhere(rotated == 1)[0]
    assert rotate_points(np.array([[4.0, 1.0]]), turns, 5, 7).tolist() == [[x, y]]


def test_sizes_and_resizing():
    assert output_size(1080, 1920, 512) == (512, 910)
    assert output_size(300, 200, 512) == (300, 200)  # never upscaled
    assert rotation_turns(-90) == 3 and rotation_turns(270) == 3
    masks = np.arange(16).reshape(1, 4, 4)
    assert nearest_resize(masks, (2, 2)).tolist() == [[[5, 7], [13, 15]]]
    assert scale_points(np.array([[1.0, 3.0]]), (4, 4), (2, 2)).tolist() == [[0.25, 1.25]]  # pixel centres: 1 -> 0.25, 3 -> 1.25
