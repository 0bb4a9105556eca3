"""One renderer for every keypoint format: same body -> same image; low scores skipped; hands drawn."""

import numpy as np
import pytest

from dataset.keypoint_formats import FORMATS, OPENPOSE_18, get_format
from dataset.skeleton_render import body_points, render_skeleton
from tests.dataset.conftest import stick_keypoints

HW = (96, 128)
FORMAT_NAMES = ["goliath_308", "coco_wholebody_133", "coco_17", "mediapipe_33", "openpose_18"]


def _openpose():
    return stick_keypoints(3, HW, 0.5)  # neck sits exactly between the shoulders


def _convert(op: np.ndarray, name: str) -> np.ndarray:
    """The same body in another format; joints the body lacks (hands, face) get score 0."""
    fmt = get_format(name)
    out = np.zeros((fmt.num_joints, 3), np.float32)
    for i, joint in enumerate(fmt.joints):
        if joint in OPENPOSE_18.joints:
            out[i] = op[OPENPOSE_18.index(joint)]
    return out


def test_the_listed_formats_are_all_registered():
    assert set(FORMAT_NAMES) <= set(FORMATS)


@pytest.mark.parametrize("name", FORMAT_NAMES)
def test_every_format_draws_the_same_body(name):
    reference = render_skeleton(_openpose(), "openpose_18", HW)
    image = render_skeleton(_convert(_openpose(), name), name, HW)
    assert image.shape == (*HW, 3) and image.dtype == np.uint8
    assert (image > 0).any(axis=-1).sum() > 200
    assert np.array_equal(image, reference)


@pytest.mark.parametrize("name", FORMAT_NAMES)
def test_low_score_joints_and_their_limbs_are_skipped(name):
    kps = _convert(_openpose(), name)
    full = render_skeleton(kps, name, HW)
    fmt = get_format(name)
    wrist = fmt.index("left_wrist")
    kps[wrist, 2] = 0.1
    partial = render_skeleton(kps, name, HW, min_score=0.3)
    x, y = (int(round(v)) for v in _openpose()[OPENPOSE_18.index("left_wrist"), :2])
    assert full[y, x].any() and not partial[y, x].any()
    assert ((partial > 0) & (full == 0)).sum() == 0


@pytest.mark.parametrize("name", ["goliath_308", "coco_wholebody_133", "mediapipe_33"])
def test_hands_are_drawn_when_present(name):
    kps = _convert(_openpose(), name)
    fmt = get_format(name)
    body_only = render_skeleton(kps, name, HW)
    wx, wy = _openpose()[OPENPOSE_18.index("right_wrist"), :2]
    for i, joint in enumerate(fmt.joints):
        if joint.startswith("right_") and any(w in joint for w in ("thumb", "finger", "pinky", "index", "hand")):
            kps[i] = (wx - 6, wy + 8, 1.0)
    with_hand = render_skeleton(kps, name, HW)
    assert (with_hand > 0).any(axis=-1).sum() > (body_only > 0).any(axis=-1).sum()


def test_non_finite_and_off_frame_keypoints_do_not_break_rendering():
    kps = _openpose()
    kps[0] = (np.nan, 5, 1.0)
    kps[4] = (-500.0, 9000.0, 1.0)
    image = render_skeleton(kps, "openpose_18", HW)
    assert image.any()
    assert body_points(kps, "openpose_18", 0.3)[0, 2] == 0


def test_line_width_scales_with_resolution():
    small = render_skeleton(_openpose(), "openpose_18", HW)
    big_kps = _openpose().copy()
    big_kps[:, :2] *= 4
    big = render_skeleton(big_kps, "openpose_18", (HW[0] * 4, HW[1] * 4))
    ratio = (big > 0).any(axis=-1).sum() / (small > 0).any(axis=-1).sum()
    assert 6 < ratio < 24  # thicker lines: area grows faster than the 4x of the length alone
