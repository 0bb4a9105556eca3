"""Qualify's scores and verdicts on hand-made masks and keypoints, one reason per case."""

from __future__ import annotations

import numpy as np
import pytest

from preprocess.config import QualifyConfig
from preprocess.stages.qualify import QualifyStage, clip_scores

T, H, W = 8, 40, 40


def moving_person(step: int = 6) -> np.ndarray:
    masks = np.zeros((T, H, W), bool)
    for t in range(T):
        x = (t * step) % (W - 8)
        masks[t, 5:35, x: x + 8] = True  # a person walking fast: little overlap frame to frame
    return masks


def flicker() -> np.ndarray:
    masks = moving_person(0)
    masks[1::2, 5:20] = False  # every other frame loses half the body
    masks[1::2, 20:35, :4] = False
    return masks


def two_people() -> np.ndarray:
    masks = np.zeros((T, H, W), bool)
    masks[:, 5:35, 2:10] = True
    masks[:, 5:35, 28:36] = True
    return masks


def tiny() -> np.ndarray:
    masks = np.zeros((T, H, W), bool)
    masks[:, 10:12, 10:12] = True
    return masks


@pytest.mark.parametrize("masks, score, reason", [
    (moving_person(), 0.9, ""),
    (np.zeros((T, H, W), bool), 0.9, "no_person"),
    (np.concatenate([moving_person()[:2], np.zeros((T - 2, H, W), bool)]), 0.9, "person_not_visible"),
    (tiny(), 0.9, "person_too_small"),
    (moving_person(), 0.1, "low_keypoint_confidence"),
    (flicker(), 0.9, "unstable_mask"),
    (two_people(), 0.9, "multiple_people"),
])  # fmt: skip
def test_verdicts(masks, score, reason):
    keypoints = np.zeros((T, 17, 3), np.float32)
    keypoints[..., 2] = score
    stage = QualifyStage(QualifyConfig(min_person_area=0.01, min_main_component=0.6))
    assert stage.verdict(clip_scores(masks, keypoints)) == reason
