"""VLM localiser: answer parsing per model dialect, tiny real models end to end, manual boxes."""

import json

import numpy as np
import pytest
import torch

from preprocess.annotators import build_annotator
from preprocess.annotators.base import AnnotationError, Localisation
from preprocess.models.boxes import mask_to_box
from preprocess.models.manual_boxes import rotate_relative_box
from preprocess.models.vlm import Answer, GroundingVLM
from preprocess.models.vlm_parse import extract_objects, parse_grounding, split_person

from .annot_clips import make_clip
from .annot_tiny_vlm import build_tiny_vlm

FRAME = (48, 64)  # clip frame (h, w)
QWEN25_HW = (56, 84)  # image as resized for Qwen2.5-VL: boxes come in these pixels
PERSON = '{"bbox_2d": [14, 7, 42, 49], "label": "person"}'


@pytest.mark.parametrize(
    "convention, text, expected",
    [
        ("qwen2_5_vl", f"```json\n[{PERSON}, {{\"bbox_2d\": [42, 14, 63, 28], \"label\": \"Ball\"}}]\n```\nThe person holds a ball.",
         [("person", (14 * 64 / 84, 7 * 48 / 56, 42 * 64 / 84, 49 * 48 / 56)), ("ball", (32.0, 12.0, 48.0, 24.0))]),
        ("qwen2_5_vl", f'[{PERSON}, {{"bbox_2d": [42, 14, 6', [("person", (14 * 64 / 84, 6.0, 32.0, 42.0))]),  # truncated
        ("qwen2_5_vl", "[]", []),
        ("qwen2_5_vl", "I cannot find any object in the image.", []),
        ("qwen2_5_vl", '[{"bbox_2d": [84, 56, -10, 30], "label": "cup"}]', [("cup", (0.0, 30 * 48 / 56, 64.0, 48.0))]),  # swapped, out of range
        ("qwen2_5_vl", '[{"bbox_2d": [10, 10, 10.5, 30], "label": "pen"}, {"bbox_2d": "x", "label": "a"}, {"label": "b"}]', []),
        ("qwen2_5_vl", 'Sure: {"bbox_2d": [0, 0, 84, 56], "label": "a \\"big\\" box"} and more', [("a \"big\" box", (0.0, 0.0, 64.0, 48.0))]),
        ("qwen3_vl", '```json\n[{"bbox_2d": [0, 0, 500, 1000], "label": "person"}, {"bbox_2d": [750, 250, 1200, 500], "label": "bag"}]',
         [("person", (0.0, 0.0, 32.0, 48.0)), ("bag", (48.0, 12.0, 64.0, 24.0))]),
        ("florence2", "</s>person<loc_0><loc_0><loc_499><loc_999>ball<loc_600><loc_700><loc_650><loc_750>",
         [("person", (0.032, 0.024, 31.968, 47.976)), ("ball", (38.432, 33.624, 41.632, 36.024))]),
        ("florence2", "person<loc_10><loc_20>", []),
        ("florence2", "wheel<loc_0><loc_0><loc_499><loc_999><loc_600><loc_700><loc_650><loc_750><loc_1>",  # one name, two boxes
         [("wheel", (0.032, 0.024, 31.968, 47.976)), ("wheel", (38.432, 33.624, 41.632, 36.024))]),
        ("florence2", "<loc_150><loc_20><loc_700><loc_800>cup<loc_0><loc_0><loc_499><loc_999>",  # nameless boxes dropped
         [("cup", (0.032, 0.024, 31.968, 47.976))]),
    ],
)
def test_parse_grounding_table(convention, text, expected):
    found = parse_grounding(text, convention, FRAME, QWEN25_HW if convention == "qwen2_5_vl" else None)
    assert [d.label for d in found] == [label for label, _ in expected]
    for det, (_, box) in zip(found, expected):
        assert det.box == pytest.approx(box, abs=1e-3)


def test_extract_objects_and_person_split():
    assert extract_objects('```json\n[{"a": 1}, 3, {"b": {"c": 2}}]\n```') == [{"a": 1}, {"b": {"c": 2}}]
    assert extract_objects('[{"a": "}"}, {"b": 2') == [{"a": "}"}]
    dets = parse_grounding('[{"bbox_2d": [0,0,100,100], "label": "man"}, {"bbox_2d": [0,0,900,900], "label": "person"},'
                           ' {"bbox_2d": [0,0,50,50], "label": "skateboard"}]', "qwen3_vl", FRAME)
    person, objects = split_person(dets)
    assert person == pytest.approx((0, 0, 57.6, 43.2)) and [o.label for o in objects] == ["skateboard"]
    with pytest.raises(ValueError, match="model input"):
        parse_grounding("[]", "qwen2_5_vl", FRAME)


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    out = {}
    for family in ("qwen2_5_vl", "qwen3_vl"):
        out[family] = tmp_path_factory.mktemp(family)
        build_tiny_vlm(out[family], family)
    return out


@pytest.mark.parametrize("family, patch", [("qwen2_5_vl", 14), ("qwen3_vl", 16)])
def test_tiny_models_answer_a_batch_and_report_the_model_image_size(folders, family, patch):
    vlm = GroundingVLM(str(folders[family]), family, torch.device("cpu"), torch.float32, max_new_tokens=4, max_pixels=None)
    images = [np.zeros((48, 64, 3), np.uint8), np.zeros((90, 120, 3), np.uint8)]
    answers = vlm.ask(images)
    inputs = vlm._inputs(images)
    assert len(answers) == 2 and all(isinstance(a.text, str) for a in answers)
    grid = inputs["image_grid_thw"]
    assert [a.model_hw for a in answers] == [(int(g[1]) * patch, int(g[2]) * patch) for g in grid]
    assert answers[1].model_hw[0] % (2 * patch) == 0 and answers[1].model_hw[1] > answers[1].model_hw[0]


def test_answers_count_their_tokens_and_min_new_tokens_holds_back_the_end(tmp_path):
    model, processor = build_tiny_vlm(tmp_path, "qwen2_5_vl")
    with torch.no_grad():
        model.lm_head.weight.zero_()  # all logits tie: greedy picks token 0, <|endoftext|>
    model.generation_config.eos_token_id = [processor.tokenizer.eos_token_id, processor.tokenizer.pad_token_id]
    images = [np.zeros((48, 64, 3), np.uint8)] * 2
    free, held = (GroundingVLM.from_model(model, processor, "qwen2_5_vl", torch.device("cpu"), max_new_tokens=6, min_new_tokens=n)
                  for n in (0, 6))
    assert [a.tokens for a in free.ask(images)] == [1, 1]
    assert [a.tokens for a in held.ask(images)] == [6, 6]
    with pytest.raises(ValueError, match="unknown VLM family"):
        GroundingVLM.from_model(model, processor, "llava", torch.device("cpu"))


def test_localiser_end_to_end_on_random_weights(folders):
    clips = [make_clip(t=5, key=f"v{i}_000000", seed=i) for i in range(2)]
    backend = build_annotator("localise", "vlm", dict(model=str(folders["qwen3_vl"]), family="qwen3_vl", num_keyframes=2,
                                                       batch_size=3, max_new_tokens=6, device="cpu", dtype="float32"))
    results = backend(clips)
    # random weights emit no JSON: every clip must come back as a recorded error, in order
    assert [r.reason for r in results] == ["no_person_found"] * 2
    assert "[0, 4]" in results[0].detail


def test_localise_turns_answers_into_keyframe_tracks(folders):
    backend = build_annotator("localise", "vlm", dict(model=str(folders["qwen2_5_vl"]), device="cpu"))
    clip = make_clip(t=5)
    answers = {0: Answer(f'[{PERSON}, {{"bbox_2d": [42, 14, 63, 28], "label": "ball"}}]', QWEN25_HW),
               4: Answer('```json\n[{"bbox_2d": [0, 0, 84, 56], "label": "person"}, {"bbox_2d": [1, 1, 20, 20], "label": "ball"},'
                         ' {"bbox_2d": [30, 30, 50, 50], "label": "ball"}]', QWEN25_HW)}
    loc = backend._localise(clip, answers)
    assert isinstance(loc, Localisation) and sorted(loc.person) == [0, 4]
    assert loc.person[4] == pytest.approx((0, 0, 64, 48))
    assert [o.label for o in loc.objects] == ["ball", "ball_2"]
    assert sorted(loc.objects[0].boxes) == [0, 4] and loc.objects[0].boxes[0] == pytest.approx((32, 12, 48, 24))


def test_manual_boxes_override_the_vlm(folders, tmp_path):
    manual = tmp_path / "boxes.json"
    manual.write_text(json.dumps({"v0": {"107": {"person": [0.25, 0.25, 0.5, 1.0], "objects": [{"label": "ball", "box": [0.5, 0.5, 0.75, 0.75]}]}}}))
    covered = make_clip(t=5, key="v0_000100")
    covered.start_frame, covered.source_frames = 100, (100, 103, 106, 109, 112)  # resampled: 107 shows as frame 2
    other = make_clip(t=5, key="v1_000000")
    cfg = dict(model=str(folders["qwen3_vl"]), family="qwen3_vl", manual_boxes=str(manual), num_keyframes=1, max_new_tokens=4,
               device="cpu", dtype="float32")
    first, second = build_annotator("localise", "vlm", cfg)([covered, other])
    assert first.person == {2: pytest.approx((16, 12, 32, 48))}
    assert first.objects[0].label == "ball" and first.objects[0].boxes == {2: pytest.approx((32, 24, 48, 36))}
    assert isinstance(second, AnnotationError) and second.reason == "no_person_found"  # fell through to the VLM
    only_manual = build_annotator("localise", "manual", dict(boxes=str(manual)))([covered, other])
    assert only_manual[0].person == first.person and only_manual[1].reason == "no_manual_boxes"


@pytest.mark.parametrize("turns", [0, 1, 2, 3])
def test_manual_boxes_turn_with_the_clip(turns):
    mask = np.zeros((40, 100), bool)
    mask[4:20, 10:30] = True  # box (10, 4, 30, 20) of a 100 x 40 frame
    turned = np.rot90(mask, k=turns)
    h, w = turned.shape
    expected = mask_to_box(turned)
    got = rotate_relative_box((0.1, 0.1, 0.3, 0.5), turns)
    assert (got[0] * w, got[1] * h, got[2] * w, got[3] * h) == pytest.approx(expected)


def test_missing_weights_fail_at_construction(tmp_path):
    with pytest.raises(FileNotFoundError, match="Qwen2.5-VL"):
        build_annotator("localise", "vlm", dict(model=str(tmp_path / "qwen")))
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="config.json"):
        build_annotator("localise", "vlm", dict(model=str(tmp_path / "empty"), family="qwen3_vl"))
