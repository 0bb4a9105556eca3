"""Ground truth of the synthetic world agrees with its pixels and with itself."""

import numpy as np
import pytest

from dataset.keypoint_formats import OPENPOSE_18
from dataset.synthetic import SynthConfig, render_video
from dataset.synthetic.figure import PART_ID
from dataset.synthetic.raster import ZBuffer
from dataset.synthetic.scene import frame_scene, plan_video

SIZE = dict(height=112, width=112, num_frames=8, fps=6.0)


def _video(motions, objects, seed=3):
    config = SynthConfig(seed=seed, num_videos=1, motions=motions, objects=objects, object_rate=1.0, **SIZE)
    return config, render_video(config, 0), plan_video(config, 0)


def _alone(plan, frame, pick):
    """Depth and owner of only some primitives of a frame, on an empty buffer."""
    character, objects, _ = frame_scene(plan, frame)
    buf = ZBuffer.empty(plan.height, plan.width).draw_all(pick(character, objects))
    return buf.depth, buf.owner


def _stature_px(video):
    rows = np.nonzero(video.character_mask.any(axis=2))
    return max(np.ptp(rows[1][rows[0] == t]) for t in np.unique(rows[0]))


@pytest.mark.parametrize("motion", ["walk", "wave", "dance", "turn", "squat"])
def test_visible_keypoints_lie_on_the_character_and_not_under_objects(motion):
    _, video, _ = _video((motion,), ("ball", "table", "chair"))
    vis = video.keypoints[..., 2] == 1.0
    assert set(np.unique(video.keypoints[..., 2])) <= {0.0, 1.0}
    assert vis.mean() > 0.3, "most joints of a character in frame should show"
    t, j = np.nonzero(vis)
    rows, cols = np.round(video.keypoints[t, j, 1]).astype(int), np.round(video.keypoints[t, j, 0]).astype(int)
    assert video.character_mask[t, rows, cols].all()
    # a joint whose pixel an object wins is hidden
    x, y = np.round(video.keypoints[..., 0]).astype(int), np.round(video.keypoints[..., 1]).astype(int)
    in_frame = (x >= 0) & (x < SIZE["width"]) & (y >= 0) & (y < SIZE["height"])
    under_object = np.zeros(vis.shape, bool)
    under_object[in_frame] = video.object_masks[np.nonzero(in_frame)[0], :, y[in_frame], x[in_frame]].any(axis=-1)
    assert under_object.any(), "the table should hide some joints"
    assert not (vis & under_object).any()


def test_turning_hides_the_face_when_the_back_is_to_the_camera():
    config = SynthConfig(seed=0, num_videos=1, motions=("turn",), objects=(), height=128, width=96,
                         num_frames=24, fps=6.0)
    video = render_video(config, 0)
    nose = video.keypoints[:, OPENPOSE_18.index("nose"), 2]
    neck = video.keypoints[:, OPENPOSE_18.index("neck"), 2]
    assert nose.max() == 1.0 and nose.min() == 0.0  # a full turn shows the face and the back
    assert neck.all()  # the neck shows from the front and from behind


@pytest.mark.parametrize("label", ["ball", "cup"])
def test_held_object_stays_within_reach_of_its_wrist(label):
    _, video, plan = _video(("walk", "dance"), (label,))
    hand = plan.props[0].hand
    wrist = video.keypoints[:, OPENPOSE_18.index(f"{hand}_wrist"), :2]
    reach = 0.2 * _stature_px(video)
    k = video.object_labels.index(label)
    seen = 0
    for t in range(video.num_frames):
        ys, xs = np.nonzero(video.object_masks[t, k])
        if len(xs) < 3:
            continue
        seen += 1
        assert np.hypot(xs.mean() - wrist[t, 0], ys.mean() - wrist[t, 1]) < reach, f"frame {t}"
    assert seen >= video.num_frames // 2


def test_box_is_carried_between_the_wrists():
    _, video, _ = _video(("walk", "squat"), ("box",))
    k = video.object_labels.index("box")
    left = video.keypoints[:, OPENPOSE_18.index("left_wrist"), :2]
    right = video.keypoints[:, OPENPOSE_18.index("right_wrist"), :2]
    margin = 0.12 * _stature_px(video)
    for t in range(video.num_frames):
        ys, xs = np.nonzero(video.object_masks[t, k])
        assert len(xs) > 20
        lo, hi = np.minimum(left[t], right[t]) - margin, np.maximum(left[t], right[t]) + margin
        assert lo[0] <= xs.mean() <= hi[0] and lo[1] <= ys.mean() <= hi[1], f"frame {t}"


def test_table_in_front_covers_the_legs_and_is_nearer_than_them():
    config, video, plan = _video(("walk",), ("table",))
    legs = {PART_ID[f"{s}_{p}"] for s in ("left", "right") for p in ("thigh", "shin")}
    k = video.object_labels.index("table")
    covered = 0
    for t in range(video.num_frames):
        leg_depth, _ = _alone(plan, t, lambda ch, ob: [p for p in ch if p.owner in legs])
        table_depth, _ = _alone(plan, t, lambda ch, ob: ob["table"])
        both = np.isfinite(leg_depth) & np.isfinite(table_depth)
        covered += both.sum()
        assert (table_depth[both] < leg_depth[both]).all()
        assert video.object_masks[t, k][both].all() and not video.character_mask[t][both].any()
        assert (video.depth[t][both] == table_depth[both]).all()
    assert covered > 0, "the table must hide part of the legs"


def test_chair_behind_is_farther_than_the_character_where_they_overlap():
    _, video, plan = _video(("wave",), ("chair",))
    overlap = 0
    for t in range(video.num_frames):
        body_depth, _ = _alone(plan, t, lambda ch, ob: ch)
        chair_depth, _ = _alone(plan, t, lambda ch, ob: ob["chair"])
        both = np.isfinite(body_depth) & np.isfinite(chair_depth)
        overlap += both.sum()
        assert (chair_depth[both] > body_depth[both]).all()
        assert video.character_mask[t][both].all()
    assert overlap > 0, "the character must stand in front of part of the chair"


@pytest.mark.parametrize("motion", ["walk", "dance", "turn"])
def test_depth_on_the_character_is_its_own_front_most_surface(motion):
    _, video, plan = _video((motion,), ("cup", "table", "chair"), seed=5)
    for t in range(video.num_frames):
        body_depth, _ = _alone(plan, t, lambda ch, ob: ch)
        scene_depth, _ = _alone(plan, t, lambda ch, ob: [p for prims in ob.values() for p in prims])
        mask = video.character_mask[t]
        assert mask.any()
        assert (video.depth[t][mask] == body_depth[mask]).all()
        assert (body_depth[mask] <= scene_depth[mask]).all()
        objects = video.object_masks[t].any(axis=0)
        assert (video.depth[t][objects] == scene_depth[objects]).all()
        assert np.isfinite(video.depth[t]).all()


def test_object_masks_are_exclusive_with_the_character_and_each_other():
    _, video, _ = _video(("squat",), ("box", "table", "chair"))
    assert video.object_labels[0] == "box" and {"table", "chair"} & set(video.object_labels)
    assert not (video.character_mask[:, None] & video.object_masks).any()
    assert (video.object_masks.sum(axis=1) <= 1).all()
    assert all(video.object_masks[:, k].any() for k in range(len(video.object_labels)))


def test_frames_show_the_masks():
    """Pixels the character owns differ from the empty room (the mask is not just a label)."""
    config, video, plan = _video(("dance",), ())
    from dataset.synthetic.background import render_backdrop

    room, _ = render_backdrop(plan.backdrop, plan.camera, plan.height, plan.width)
    changed = (video.frames != room[None]).any(axis=-1)
    assert (changed == video.character_mask).mean() > 0.99
