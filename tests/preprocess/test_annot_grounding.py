"""Grounding DINO localiser: tiny random model in the transformers format, box convention, contact rule."""

import pytest
import torch

from preprocess.annotators import build_annotator
from preprocess.annotators.base import AnnotationError, Localisation
from preprocess.models.boxes import touches
from preprocess.models.grounding import GroundingDetector
from preprocess.models.vlm_parse import Detection

from .annot_clips import make_clip

WORDS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ".", "person", "ball", "bag", "cup"]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    from transformers import (BertConfig, BertTokenizerFast, GroundingDinoConfig, GroundingDinoForObjectDetection,
                              GroundingDinoImageProcessor, GroundingDinoProcessor, SwinConfig)

    path = tmp_path_factory.mktemp("gdino")
    tokenizer = BertTokenizerFast(vocab={w: i for i, w in enumerate(WORDS)})  # no tokenizer download: a vocabulary of our own
    GroundingDinoProcessor(image_processor=GroundingDinoImageProcessor(size={"shortest_edge": 64, "longest_edge": 96}),
                           tokenizer=tokenizer).save_pretrained(path)
    config = GroundingDinoConfig(
        backbone_config=SwinConfig(embed_dim=8, depths=[1, 1, 1, 1], num_heads=[1, 1, 1, 1], window_size=2, image_size=64,
                                   out_features=["stage2", "stage3", "stage4"]),
        text_config=BertConfig(vocab_size=len(WORDS), hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32),
        d_model=32, encoder_layers=1, decoder_layers=2, encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=32,
        decoder_ffn_dim=32, num_queries=10, num_feature_levels=3, encoder_n_points=1, decoder_n_points=1,
        use_timm_backbone=False, use_pretrained_backbone=False, max_text_len=32)
    torch.manual_seed(0)
    GroundingDinoForObjectDetection(config).save_pretrained(path)
    return path


def test_detections_are_query_boxes_in_frame_pixels(folder):
    detector = GroundingDetector(str(folder), torch.device("cpu"), torch.float32, box_threshold=0.0, text_threshold=0.0)
    frame = make_clip(t=1, h=48, w=64).frames[0]
    found = detector.detect([frame], ["person", "ball"])[0]
    inputs = detector.processor(images=[frame], text=["person. ball."], return_tensors="pt")
    with torch.no_grad():
        cx, cy, w, h = detector.model(**inputs).pred_boxes[0].unbind(-1)
    queries = torch.stack([(cx - w / 2) * 64, (cy - h / 2) * 48, (cx + w / 2) * 64, (cy + h / 2) * 48], -1).clamp(min=0)
    queries = torch.minimum(queries, torch.tensor([64.0, 48.0, 64.0, 48.0]))
    assert found, "threshold 0 keeps every query"
    for det in found:  # normalised centre-size boxes scaled by (W, H), not (H, W)
        assert torch.isclose(queries, torch.tensor(det.box), atol=1e-3).all(dim=1).any()


@pytest.mark.parametrize("obj, expected", [((40, 40, 60, 60), True), ((100, 40, 115, 60), True), ((140, 40, 160, 60), False),
                                           ((90, 0, 200, 10), False)])
def test_touches(obj, expected):
    assert touches((20.0, 20.0, 100.0, 180.0), obj, margin=0.1, min_inside=0.3) is expected


def test_only_objects_touching_the_person_are_kept(folder):
    backend = build_annotator("localise", "grounding_dino", dict(model=str(folder), labels=["ball", "cup"], device="cpu"))
    assert backend.config.labels == ["person", "ball", "cup"]
    loc = backend._localise(None, {0: [Detection("person", (10, 10, 30, 45)), Detection("ball", (28, 30, 36, 38)),
                                       Detection("cup", (50, 2, 60, 12))], 3: [Detection("ball", (0, 0, 5, 5))]})
    assert isinstance(loc, Localisation) and list(loc.person) == [0]
    assert [(o.label, sorted(o.boxes)) for o in loc.objects] == [("ball", [0])]


def test_backend_end_to_end_batches_keyframes_of_all_clips(folder):
    clips = [make_clip(t=4, key=f"g{i}_000000", seed=i) for i in range(2)]
    strict = build_annotator("localise", "grounding_dino", dict(model=str(folder), labels=["ball"], box_threshold=1.0,
                                                                num_keyframes=2, batch_size=3, device="cpu", dtype="float32"))
    assert [r.reason for r in strict(clips)] == ["no_person_found"] * 2
    loose = build_annotator("localise", "grounding_dino", dict(model=str(folder), labels=["ball", "bag"], box_threshold=0.0,
                                                               text_threshold=0.0, device="cpu", dtype="float32"))
    for result in loose(clips):
        assert isinstance(result, (Localisation, AnnotationError))
        if isinstance(result, Localisation):
            assert all(0 <= b[0] < b[2] <= 64 and 0 <= b[1] < b[3] <= 48 for b in result.person.values())


def test_a_label_list_longer_than_the_text_encoder_is_a_config_error(folder):
    backend = build_annotator("localise", "grounding_dino", dict(model=str(folder), device="cpu", dtype="float32"))
    with pytest.raises(ValueError, match="fewer labels"):
        backend([make_clip(t=1)])  # 20 default labels do not fit the tiny model's 32 text tokens


def test_missing_folder_fails_at_construction(tmp_path):
    with pytest.raises(FileNotFoundError, match="grounding-dino"):
        build_annotator("localise", "grounding_dino", dict(model=str(tmp_path / "none")))
