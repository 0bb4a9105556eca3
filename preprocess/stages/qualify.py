"""Qualify stage: score each annotated clip and reject the ones not fit for training.

Scores (kept in the clip's json ``scores``): ``visible`` (share of frames with the character),
``area`` (mean mask area over those frames), ``keypoint_score``, ``mask_stability`` (how steady
the mask area is from frame to frame), ``main_component`` (share of the mask in its largest connected part: one
main character, not a crowd). A reject is a row with a reason, like any other per-clip failure.
"""

from __future__ import annotations

import io
import time

import cv2
import numpy as np

from dataset.schema import ClipMeta, unpack_masks

from ..config import QualifyConfig
from ..rows import FAILED, OK, SKIPPED, fail


def raw_sample(row: dict) -> dict:
    return {"__key__": row["key"], "mp4": row["mp4"], "json": row["json"], "mask.npz": row["mask_npz"],
            "pose.npz": row["pose_npz"], "depth.npz": row["depth_npz"]}


def mask_stability(masks: np.ndarray) -> float:
    """Mean ratio smaller/larger of consecutive mask areas: 1 for a steady mask, near 0 for flicker.

    Areas, not IoU: a person moving fast at a low clip rate overlaps little with itself from frame
    to frame, yet its segmentation is fine; a failing segmenter makes the area jump.
    """
    areas = masks.reshape(len(masks), -1).sum(1).astype(np.float64)
    if len(areas) < 2:
        return 1.0
    small, large = np.minimum(areas[1:], areas[:-1]), np.maximum(areas[1:], areas[:-1])
    valid = large > 0
    return float((small[valid] / large[valid]).mean()) if valid.any() else 0.0


def main_component_share(masks: np.ndarray, samples: int = 8) -> float:
    """Mean share of the mask in its largest 8-connected component, over up to ``samples`` frames."""
    frames = [m for m in masks[:: max(1, len(masks) // samples)] if m.any()]
    shares = []
    for mask in frames:
        _, _, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
        areas = stats[1:, cv2.CC_STAT_AREA]
        shares.append(areas.max() / areas.sum())
    return float(np.mean(shares)) if shares else 0.0


def load_annotations(row: dict) -> tuple[ClipMeta, np.ndarray, np.ndarray]:
    """Metadata, character masks and keypoints of a row; the heavier members (depth, mp4) stay encoded."""
    meta = ClipMeta.from_json(row["json"])
    with np.load(io.BytesIO(row["mask_npz"]), allow_pickle=False) as npz:
        masks = unpack_masks(npz["character_bits"], npz["character_shape"])
    with np.load(io.BytesIO(row["pose_npz"]), allow_pickle=False) as npz:
        keypoints = npz["keypoints"]
    if masks.shape != (meta.num_frames, meta.height, meta.width) or keypoints.shape[0] != meta.num_frames:
        raise ValueError(f"masks {masks.shape} / keypoints {keypoints.shape} disagree with the metadata")
    return meta, masks, keypoints


def clip_scores(masks: np.ndarray, keypoints: np.ndarray) -> dict[str, float]:
    visible = masks.reshape(len(masks), -1).any(1)
    if not visible.any():
        return {"visible": 0.0, "area": 0.0, "keypoint_score": 0.0, "mask_stability": 0.0, "main_component": 0.0}
    return {
        "visible": float(visible.mean()),
        "area": float(masks[visible].mean()),
        "keypoint_score": float(np.nan_to_num(keypoints[visible, :, 2]).mean()),
        "mask_stability": mask_stability(masks),
        "main_component": main_component_share(masks[visible]),
    }


class QualifyStage:
    name = "qualify"

    def __init__(self, config: QualifyConfig):
        self.config = config

    def setup(self) -> None:
        """Nothing to load: the checks are arithmetic on the annotations."""

    def verdict(self, scores: dict[str, float]) -> str:
        c = self.config
        checks = [("no_person", scores["visible"] > 0), ("person_not_visible", scores["visible"] >= c.min_visible_frames),
                  ("person_too_small", scores["area"] >= c.min_person_area),
                  ("low_keypoint_confidence", scores["keypoint_score"] >= c.min_keypoint_score),
                  ("unstable_mask", scores["mask_stability"] >= c.min_mask_stability),
                  ("multiple_people", scores["main_component"] >= c.min_main_component)]
        return next((reason for reason, passed in checks if not passed), "")

    def qualify_one(self, row: dict) -> dict:
        if row["status"] != OK:
            return row
        start = time.perf_counter()
        try:
            meta, masks, keypoints = load_annotations(row)
        except (ValueError, KeyError, OSError) as exc:  # npz, json and shape errors: the annotation is unusable
            return fail(row, FAILED, "bad_annotation", str(exc))
        scores = clip_scores(masks, keypoints)
        meta.scores = {k: round(v, 4) for k, v in scores.items()}
        reason = self.verdict(scores)
        row = {**row, "json": meta.to_json(), "t_qualify": time.perf_counter() - start}
        return fail(row, SKIPPED, reason, str(meta.scores)) if reason else row

    def __call__(self, rows: list[dict]) -> list[dict]:
        return [self.qualify_one(r) for r in rows]
