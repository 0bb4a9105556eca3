"""The production backends plugged into the annotate stage: manual boxes -> SAM2 -> Sapiens."""

import json

import numpy as np
import torch

from preprocess.config import AnnotateConfig
from preprocess.stages.annotate import AnnotateStage

from .annot_clips import make_clip, to_sample
from .test_annot_sam2 import CONFIG as SAM2_CONFIG
from .test_annot_sam2 import TINY as SAM2_TINY
from .test_annot_sapiens import INPUT_HW, _tiny


def test_stage_runs_manual_sam2_and_sapiens_backends(tmp_path):
    from sam2.build_sam import build_sam2_video_predictor

    torch.manual_seed(0)
    sam2 = build_sam2_video_predictor(SAM2_CONFIG, None, device="cpu", hydra_overrides_extra=SAM2_TINY)
    torch.save({"model": sam2.state_dict()}, tmp_path / "sam2.pt")
    for task in ("pose", "depth"):
        torch.save({"state_dict": _tiny(task).state_dict()}, tmp_path / f"{task}.pth")
    (tmp_path / "boxes.json").write_text(json.dumps({"v0": {"1": {"person": [0.25, 0.2, 0.55, 0.8]}}, "v1": {}}))
    sapiens = dict(input_hw=INPUT_HW, num_heads=2, device="cpu", dtype="float32", format="coco_17")
    config = AnnotateConfig(localise="manual", segment="sam2", pose="sapiens", depth="sapiens", backend_config={
        "localise": {"boxes": str(tmp_path / "boxes.json")},
        "segment": {"checkpoint": str(tmp_path / "sam2.pt"), "config": SAM2_CONFIG, "overrides": SAM2_TINY, "device": "cpu",
                    "threshold": -1e9},
        "pose": {"checkpoint": str(tmp_path / "pose.pth"), **sapiens},
        "depth": {"checkpoint": str(tmp_path / "depth.pth"), **sapiens},
    })
    stage = AnnotateStage(config)
    stage.setup()
    clips = [make_clip(t=3, h=45, w=61, key="v0_000000"), make_clip(t=3, key="v1_000000", seed=1)]  # odd sizes too
    results, errors = stage.annotate(clips)
    assert errors[0] is None and errors[1].reason == "no_manual_boxes"
    seg, pose, depth = results["segmentations"][0], results["poses"][0], results["depths"][0]
    assert seg.character.shape == (3, 45, 61) and seg.character.all() and pose.keypoints.shape == (3, 17, 3)
    assert depth.shape == (3, 22, 30) and np.isfinite(depth).all()
    to_sample(clips[0], seg, pose.keypoints, depth, pose.format)
