"""Random scale augmentation keeps pixels, masks, keypoints and depth aligned (exact ground truth:
a solid-colour figure, and the synthetic character world)."""

import cv2
import numpy as np
import pytest

from dataset.scale_aug import Layers, anchor_point, scale_keypoints, scale_layers
from tests.dataset.conftest import OBJECT_DEPTH, OBJECT_RGB, PERSON_DEPTH, PERSON_RGB, synth_video, draw_clip


def _erode(mask):
    return cv2.erode(mask.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)


def _dilate(mask, r=1):
    return cv2.dilate(mask.astype(np.uint8), np.ones((2 * r + 1, 2 * r + 1), np.uint8)).astype(bool)


def _has_colour(frame, rgb, tol=0):
    return np.abs(frame.astype(int) - np.array(rgb)).max(axis=-1) <= tol


@pytest.mark.parametrize("scale", [0.6, 0.85, 1.2, 1.5])
def test_everything_moves_with_the_pixels(scale):
    gt = draw_clip(num_frames=3, hw=(96, 128), seed=5)
    out = scale_layers(gt, scale, anchor_point(gt.character))
    for t in range(3):
        person, objects = out.character[t], out.objects[t, 0]
        assert person.sum() > 50
        # Inside the moved masks the pixels are the person's / the box's colour (bilinear
        # resampling may blend a corner pixel a little) ...
        for mask, rgb in ((person, PERSON_RGB), (objects, OBJECT_RGB)):
            assert _has_colour(out.frames[t], rgb, tol=40)[_erode(mask)].all()
            assert _has_colour(out.frames[t], rgb)[_erode(mask)].mean() > 0.98
        # ... and that colour appears nowhere away from them (the old figure is inpainted).
        assert not (_has_colour(out.frames[t], PERSON_RGB) & ~_dilate(person | objects)).any()
        # Depth follows the masks exactly.
        assert np.all(out.depth[t][person] == PERSON_DEPTH) and np.all(out.depth[t][objects] == OBJECT_DEPTH)
        # Every joint lands on the figure (the wrist may sit under the held box).
        h, w = person.shape
        for x, y, _ in out.keypoints[t]:
            if not (0 <= round(x) < w and 0 <= round(y) < h):
                continue  # scaled out of the frame
            assert _dilate(person | objects)[int(round(y)), int(round(x))], (x, y)


def test_size_changes_by_scale_squared():
    gt = draw_clip(num_frames=1, hw=(96, 128), seed=1)
    for scale in (0.7, 1.3):
        out = scale_layers(gt, scale, anchor_point(gt.character))
        ratio = out.character.sum() / gt.character.sum()
        assert abs(ratio - scale**2) < 0.25 * scale**2


def test_anchor_is_the_bottom_centre_and_stays_put():
    gt = draw_clip(num_frames=2, hw=(96, 128), seed=2)
    ax, ay = anchor_point(gt.character)
    ys = np.nonzero(gt.character.any(axis=(0, 2)))[0]
    assert ay == ys[-1]
    assert np.allclose(scale_keypoints(np.array([[ax, ay, 1.0]]), 1.7, (ax, ay))[0, :2], (ax, ay))


def test_scale_one_keeps_the_character():
    gt = draw_clip(num_frames=2, hw=(64, 80), seed=3)
    out = scale_layers(gt, 1.0, anchor_point(gt.character))
    assert np.array_equal(out.character, gt.character) and np.array_equal(out.objects, gt.objects)
    assert np.allclose(out.keypoints, gt.keypoints)


@pytest.mark.parametrize("index", [1, 3, 5])
@pytest.mark.parametrize("scale", [0.7, 1.3])
def test_synthetic_ground_truth_moves_together(index, scale):
    video = synth_video(index, 6, (96, 128), 0)
    gt = Layers(video.frames, video.character_mask, video.object_masks, video.keypoints, video.depth)
    anchor = anchor_point(gt.character)
    out = scale_layers(gt, scale, anchor)
    for t in range(len(gt.frames)):
        # Visible joints stay on the character.
        on_figure = _dilate(out.character[t])
        for x, y, vis in out.keypoints[t]:
            xi, yi = int(round(x)), int(round(y))
            if vis > 0.5 and 0 <= xi < 128 and 0 <= yi < 96:
                assert on_figure[yi, xi], (t, x, y)
        # Each character pixel came from a character pixel, with its colour and its depth.
        ys, xs = np.nonzero(_erode(out.character[t]))
        sx = np.rint(anchor[0] + (xs - anchor[0]) / scale).astype(int)
        sy = np.rint(anchor[1] + (ys - anchor[1]) / scale).astype(int)
        assert _dilate(gt.character[t])[sy, sx].all()
        colour_error = np.abs(out.frames[t][ys, xs].astype(int) - gt.frames[t][sy, sx].astype(int)).max(axis=-1)
        assert np.median(colour_error) <= 8
        assert np.array_equal(out.depth[t][ys, xs], gt.depth[t][sy, sx])
