"""The whole-body keypoint formats: sizes, anatomy of the body and hand links, registry names."""

import pytest

from dataset.keypoint_formats import get_format


@pytest.mark.parametrize(
    "name,joints,limbs",
    [("goliath_308", 308, 65), ("coco_wholebody_133", 133, 65), ("mediapipe_33", 33, 35)],
)
def test_sizes_and_unique_names(name, joints, limbs):
    fmt = get_format(name)
    assert fmt.num_joints == joints and len(set(fmt.joints)) == joints
    assert len(fmt.limbs) == limbs and len(set(fmt.limbs)) == limbs


def _linked(fmt, a, b):
    i, j = fmt.index(a), fmt.index(b)
    return (i, j) in fmt.limbs or (j, i) in fmt.limbs


@pytest.mark.parametrize("name", ["goliath_308", "coco_wholebody_133", "mediapipe_33"])
@pytest.mark.parametrize("side", ["left", "right"])
def test_arm_and_leg_chains(name, side):
    fmt = get_format(name)
    for a, b in [("shoulder", "elbow"), ("elbow", "wrist"), ("hip", "knee"), ("knee", "ankle"), ("shoulder", "hip")]:
        assert _linked(fmt, f"{side}_{a}", f"{side}_{b}"), (name, a, b)


def test_goliath_channel_positions():
    g = get_format("goliath_308")
    expected = {0: "nose", 9: "left_hip", 14: "right_ankle", 21: "right_thumb4", 24: "right_thumb_third_joint",
                41: "right_wrist", 42: "left_thumb4", 62: "left_wrist", 69: "neck", 70: "center_of_glabella",
                188: "r_outer_corner_of_mouth", 272: "l_center_of_iris", 307: "r_border_of_pupil_midpoint_2"}
    assert {i: g.joints[i] for i in expected} == expected


@pytest.mark.parametrize("side", ["left", "right"])
def test_goliath_fingers_run_wrist_knuckle_to_tip(side):
    g = get_format("goliath_308")
    for finger in ("thumb", "forefinger", "middle_finger", "ring_finger", "pinky_finger"):
        chain = [f"{side}_wrist", f"{side}_{finger}_third_joint", f"{side}_{finger}2", f"{side}_{finger}3",
                 f"{side}_{finger}4"]
        assert all(_linked(g, a, b) for a, b in zip(chain, chain[1:]))
    assert not _linked(g, f"{side}_wrist", f"{side}_thumb4")


def test_wholebody_hands_hang_from_their_roots():
    c = get_format("coco_wholebody_133")
    assert c.index("left_hand_root") == 91 and c.index("right_hand_root") == 112
    assert _linked(c, "left_hand_root", "left_pinky_finger1") and _linked(c, "right_thumb3", "right_thumb4")
    assert c.joints[23] == "face-0" and c.joints[90] == "face-67"


def test_mediapipe_hand_triangle_and_feet():
    m = get_format("mediapipe_33")
    assert m.index("right_foot_index") == 32
    assert _linked(m, "left_wrist", "left_pinky") and _linked(m, "left_pinky", "left_index")
    assert _linked(m, "right_heel", "right_foot_index") and _linked(m, "right_ankle", "right_foot_index")
