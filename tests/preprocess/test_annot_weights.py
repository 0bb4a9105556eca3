"""The weights file: typed, validated, paths resolved, and turned into backend arguments."""

from pathlib import Path

import pytest

from preprocess.annotators import build_annotator
from preprocess.weights import load_weights

EXAMPLE = Path(__file__).resolve().parents[2] / "preprocess" / "weights.example.yaml"


def test_example_file_parses_and_resolves_paths_next_to_it():
    weights = load_weights(EXAMPLE)
    assert weights.vlm.family == "qwen2_5_vl" and weights.sapiens_pose.format == "goliath_308"
    assert weights.sam2.checkpoint == str(EXAMPLE.parent / "models" / "sam2.1_hiera_base_plus.pt")
    assert weights.sam2.config == "configs/sam2.1/sam2.1_hiera_b+.yaml"  # a packaged name, not a path
    kwargs = weights.backend_kwargs("pose", "sapiens")
    assert kwargs == {"checkpoint": str(EXAMPLE.parent / "models" / "sapiens_1b_goliath_best_goliath_AP_639_torchscript.pt2"),
                      "format": "goliath_308"}
    assert weights.backend_kwargs("pose", "oracle") == {}


@pytest.mark.parametrize("role, backend, fetch", [("segment", "sam2", "sam2.1_hiera_base_plus"), ("pose", "sapiens", "sapiens-pose"),
                                                  ("localise", "vlm", "Qwen2.5-VL"), ("depth", "sapiens2", "sapiens2"),
                                                  ("localise", "grounding_dino", "grounding-dino")])
def test_backends_built_from_the_example_fail_early_naming_what_to_fetch(role, backend, fetch):
    with pytest.raises(FileNotFoundError, match=fetch):
        build_annotator(role, backend, load_weights(EXAMPLE).backend_kwargs(role, backend))


def test_unknown_keys_and_bad_values_are_rejected(tmp_path):
    (tmp_path / "w.yaml").write_text("sam2:\n  chekpoint: x.pt\n")
    with pytest.raises(ValueError, match="sam2.: unknown keys \\['chekpoint'\\]"):
        load_weights(tmp_path / "w.yaml")
    (tmp_path / "w.yaml").write_text("vlm:\n  family: llava\n")
    with pytest.raises(ValueError, match="vlm.family"):
        load_weights(tmp_path / "w.yaml")
    (tmp_path / "w.yaml").write_text("sapiens_pose:\n  checkpoint: /abs/p.pth\n  format: coco_17\n")
    assert load_weights(tmp_path / "w.yaml").sapiens_pose.checkpoint == "/abs/p.pth"
