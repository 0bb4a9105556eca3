"""Box validation, coordinate conventions and top-down crop maths round-trip exactly."""

import math

import numpy as np
import pytest
import torch

from preprocess.models.boxes import bins_to_pixels, mask_track_boxes, relative_to_pixels, rescale_box, validate_box
from preprocess.models.topdown import crop_to_frame, cut_crops, decode_heatmaps, frame_to_crop, paste_crops, topdown_crops


@pytest.mark.parametrize(
    "box, expected",
    [
        ([10, 20, 30, 40], (10, 20, 30, 40)),
        ([30, 40, 10, 20], (10, 20, 30, 40)),  # swapped corners
        ([-5, -8, 30, 400], (0, 0, 30, 100)),  # out of the frame: clipped
        ([10, 20, 11, 40], None),  # degenerate width
        ([300, 20, 400, 40], None),  # entirely right of the frame
        ([math.nan, 0, 10, 10], None),
        (["a", 0, 1, 2], None),
        ([1, 2, 3], None),
    ],
)
def test_validate_box(box, expected):
    assert validate_box(box, (100, 200)) == expected


def test_rescale_and_relative_conventions():
    box = (14.0, 28.0, 70.0, 112.0)
    back = rescale_box(rescale_box(box, (140, 196), (480, 640)), (480, 640), (140, 196))
    assert np.allclose(back, box)
    assert rescale_box((0, 0, 196, 140), (140, 196), (480, 640)) == pytest.approx((0, 0, 640, 480))
    assert relative_to_pixels([500, 250, 1000, 1000], (480, 640), 1000) == pytest.approx((320, 120, 640, 480))
    assert bins_to_pixels([0, 0, 999, 999], (1000, 2000), 1000) == pytest.approx((1, 0.5, 1999, 999.5))


def test_topdown_crops_pad_and_fix_aspect():
    crops = topdown_crops(torch.tensor([[10.0, 10.0, 50.0, 30.0], [0.0, 0.0, 30.0, 120.0]]))
    assert torch.allclose(crops[:, 2] / crops[:, 3], torch.tensor(0.75))
    assert torch.allclose(crops[0], torch.tensor([30.0, 20.0, 50.0, 50.0 / 0.75]))  # wide box: width wins
    assert torch.allclose(crops[1], torch.tensor([15.0, 60.0, 150.0 * 0.75, 150.0]))  # tall box: height wins


def test_crop_frame_round_trip_and_sampling():
    crops = torch.tensor([[40.0, 30.0, 24.0, 32.0]])
    pts = torch.tensor([[[0.0, 0.0], [47.0, 63.0], [12.5, 40.25]]])
    frame_pts = crop_to_frame(pts, crops, (64, 48))
    assert torch.allclose(frame_pts[0, 0], torch.tensor([28.0, 14.0]))  # first pixel centre on the crop's corner
    assert torch.allclose(frame_pts[0, 1], torch.tensor([52.0, 46.0]))
    assert torch.allclose(frame_to_crop(frame_pts, crops, (64, 48)), pts, atol=1e-5)
    # a frame whose value is its own x (channel 0) and y (channel 1) coordinate
    ys, xs = torch.meshgrid(torch.arange(80.0), torch.arange(100.0), indexing="ij")
    frame = torch.stack([xs, ys, xs * 0]).unsqueeze(0)
    cut = cut_crops(frame, crops, (64, 48))
    assert torch.allclose(cut[0, 0, 10, 7], frame_pts.new_tensor(28.0 + 7 * 24 / 47), atol=1e-4)
    assert torch.allclose(cut[0, 1, 10, 7], frame_pts.new_tensor(14.0 + 10 * 32 / 63), atol=1e-4)
    pasted = paste_crops(cut[:, :2], crops, (80, 100))
    inside = ~torch.isnan(pasted[0, 0])
    assert inside[30, 40] and not inside[5, 5]
    assert torch.allclose(pasted[0, 0][inside], xs[inside], atol=1e-3)


@pytest.mark.parametrize("cx, cy, tol", [(12.3, 7.8, 0.06), (20.0, 30.49, 0.06), (0.2, 5.5, 0.21)])
def test_decode_heatmaps_sub_pixel(cx, cy, tol):
    ys, xs = torch.meshgrid(torch.arange(32.0), torch.arange(24.0), indexing="ij")
    hm = torch.exp(-((xs - cx) ** 2 + (ys - cy) ** 2) / (2 * 2.0**2)) * 0.9
    xy, score = decode_heatmaps(hm.reshape(1, 1, 32, 24))
    assert torch.allclose(xy[0, 0], torch.tensor([cx, cy]), atol=tol)  # border peaks: argmax only
    assert 0.8 < score.item() <= 0.9


def test_mask_track_boxes_fills_gaps_from_nearest_frame():
    masks = np.zeros((4, 10, 10), bool)
    masks[1, 2:5, 3:7] = True
    masks[3, 0:10, 0:2] = True
    boxes, present = mask_track_boxes(masks)
    assert present.tolist() == [False, True, False, True]
    assert boxes[0].tolist() == [3, 2, 7, 5] and boxes[1].tolist() == [3, 2, 7, 5]
    assert boxes[3].tolist() == [0, 0, 2, 10]
    assert not mask_track_boxes(np.zeros((2, 3, 3), bool))[1].any()
