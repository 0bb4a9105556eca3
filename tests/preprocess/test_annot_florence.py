"""Florence-2 localiser: answer post-processing, tiny real models end to end, failures at start.

No tokenizer can be downloaded, so the tiny folders get a character-level tokenizer with
Florence-2's special and ``<loc_N>`` tokens, a CLIP image processor and ``config.json`` +
``model.safetensors`` from ``save_pretrained``; everything loads through ``from_pretrained``.
One tiny model keeps its random weights (garbage answers); the other is first taught to give a
single known answer for any image, so the whole path from pixels to frame boxes can be checked.
"""

import json
import string
from pathlib import Path

import pytest
import torch

from preprocess.annotators import build_annotator
from preprocess.annotators.base import AnnotationError, Localisation
from preprocess.models.florence import FlorenceDetector, detections
from preprocess.weights import load_weights

from .annot_clips import make_clip

SPECIAL = ["<s>", "<pad>", "</s>", "<unk>", "<image>"]
LOCS = [f"<loc_{i}>" for i in range(1000)]
# person, a ball held at its side, its own face (a body part) and a car far away
TAUGHT = "person<loc_250><loc_125><loc_499><loc_874>ball<loc_450><loc_500><loc_599><loc_699>" \
         "human face<loc_300><loc_150><loc_400><loc_250>car<loc_800><loc_0><loc_999><loc_99>"  # fmt: skip
# the same boxes in pixels of a 48 x 64 clip: ((bin + 0.5) / 1000) * width or height, worked out by hand
PERSON_PX, BALL_PX = (16.032, 6.024, 31.968, 41.976), (28.832, 24.024, 38.368, 33.576)


def build_tiny_florence(folder: Path, answer: str | None = None, steps: int = 60, seed: int = 0) -> Path:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import (CLIPImageProcessor, Florence2Config, Florence2ForConditionalGeneration, Florence2Processor,
                              PreTrainedTokenizerFast)

    chars = sorted(set(string.printable) - set("\t\n\r\x0b\x0c"))
    vocab = {t: i for i, t in enumerate(SPECIAL + LOCS + chars)}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.pre_tokenizer, tok.decoder = pre_tokenizers.Split("", "isolated"), decoders.Fuse()
    tok.add_special_tokens(SPECIAL)
    tok.add_tokens(LOCS)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", pad_token="<pad>",
                                        unk_token="<unk>", extra_special_tokens={"image_token": "<image>"})
    images = CLIPImageProcessor(size={"height": 32, "width": 32}, crop_size={"height": 32, "width": 32}, do_center_crop=False)
    images.image_seq_length = 17  # 32 px / stride 8 = 4 x 4 tokens, plus the pooled one
    processor = Florence2Processor(image_processor=images, tokenizer=tokenizer)
    text = dict(model_type="bart", vocab_size=len(vocab), max_position_embeddings=128, encoder_layers=1, decoder_layers=1,
                encoder_ffn_dim=64, decoder_ffn_dim=64, encoder_attention_heads=2, decoder_attention_heads=2, d_model=64,
                dropout=0.0, bos_token_id=0, pad_token_id=1, eos_token_id=2, decoder_start_token_id=2, forced_eos_token_id=2)
    vision = dict(depths=[1, 1], patch_size=[7, 3], patch_stride=[4, 2], patch_padding=[3, 1], patch_prenorm=[False, True],
                  embed_dim=[16, 32], num_heads=[1, 2], num_groups=[1, 2], window_size=2, projection_dim=64, drop_path_rate=0.0)
    torch.manual_seed(seed)
    model = Florence2ForConditionalGeneration(Florence2Config(text_config=text, vision_config=vision, image_token_id=vocab["<image>"]))
    if answer is not None:
        _teach(model, processor, answer, steps)
    processor.save_pretrained(folder)
    model.eval().save_pretrained(folder)
    return folder


def _teach(model, processor, answer: str, steps: int) -> None:
    """Overfit the decoder to one answer, whatever the image: a model whose output is known."""
    frames = [make_clip(t=1, seed=s).frames[0] for s in range(2)]
    inputs = processor(text=["<OD>"] * 2, images=frames, return_tensors="pt")
    ids = [0] + processor.tokenizer(answer, add_special_tokens=False)["input_ids"] + [2]
    labels = torch.tensor([ids, ids])
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    model.train()
    for _ in range(steps):
        loss = model(**inputs, labels=labels).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
    assert loss.item() < 0.01, f"the tiny model did not learn its answer (loss {loss.item():.3f})"


@pytest.fixture(scope="module")
def random_folder(tmp_path_factory):
    return build_tiny_florence(tmp_path_factory.mktemp("florence_random"), seed=7)  # answers: runs of nameless <loc_N>


@pytest.fixture(scope="module")
def taught_folder(tmp_path_factory):
    return build_tiny_florence(tmp_path_factory.mktemp("florence_taught"), TAUGHT)


@pytest.mark.parametrize("text, expected", [
    ("</s><s>person<loc_100><loc_200><loc_499><loc_999>ball<loc_600><loc_500><loc_699><loc_599></s><pad><pad>",
     [("person", (64.32, 96.24, 319.68, 479.76)), ("ball", (384.32, 240.24, 447.68, 287.76))]),
    # one name, two boxes: both kept under that name (the bare parser would read the second as "loc_0>")
    ("</s><s>wheel<loc_0><loc_0><loc_99><loc_99><loc_900><loc_900><loc_999><loc_999></s>",
     [("wheel", (0.32, 0.24, 63.68, 47.76)), ("wheel", (576.32, 432.24, 639.68, 479.76))]),
    ("</s><s>Person<loc_499><loc_999><loc_100><loc_200>cup<loc_5><loc_5><loc_6><loc_6></s>",  # swapped corners; 1 px cup dropped
     [("person", (64.32, 96.24, 319.68, 479.76))]),
    ("</s><s><loc_5><loc_6><loc_7><loc_8><loc_9><loc_10><loc_11><loc_12><loc_13></s>", []),  # boxes without a name
    ("</s><s>person<loc_100><loc_200>", []),  # cut off by the token limit
    ("</s>the the the</s>", []),
])
def test_answer_becomes_boxes_in_frame_pixels(text, expected):
    found = detections(text, (480, 640))
    assert [d.label for d in found] == [label for label, _ in expected]
    for det, (_, box) in zip(found, expected):
        assert det.box == pytest.approx(box, abs=1e-6)


def test_taught_model_end_to_end_batches_keyframes_and_keeps_touching_objects(taught_folder, tmp_path):
    detector = FlorenceDetector(str(taught_folder), torch.device("cpu"), torch.float32, max_new_tokens=64)
    assert [a.replace("<pad>", "") for a in detector.ask([make_clip(t=1, seed=7).frames[0]])] == [f"</s><s>{TAUGHT}</s>"]
    (tmp_path / "boxes.json").write_text(json.dumps({"m": {"0": {"person": [0.5, 0.5, 0.75, 1.0]}}}))
    clips = [make_clip(t=4, key=f"g{i}_000000", seed=i) for i in range(2)] + [make_clip(t=4, key="m_000000")]
    backend = build_annotator("localise", "florence2", dict(model=str(taught_folder), manual_boxes=str(tmp_path / "boxes.json"),
                                                            num_keyframes=2, batch_size=3, max_new_tokens=64, device="cpu",
                                                            dtype="float32"))
    results = backend(clips)
    for loc in results[:2]:  # 4 keyframes in batches of 3 and 1
        assert isinstance(loc, Localisation) and sorted(loc.person) == [0, 3]
        assert all(box == pytest.approx(PERSON_PX, abs=1e-6) for box in loc.person.values())
        assert [(o.label, sorted(o.boxes)) for o in loc.objects] == [("ball", [0, 3])]  # not the face, not the car
        assert loc.objects[0].boxes[3] == pytest.approx(BALL_PX, abs=1e-6)
    assert results[2].person == {0: (32.0, 24.0, 48.0, 48.0)} and results[2].objects == []  # the manual boxes win


def test_random_weights_give_no_person_rather_than_a_crash(random_folder):
    frames = [make_clip(t=1, seed=s).frames[0] for s in range(3)]
    detector = FlorenceDetector(str(random_folder), torch.device("cpu"), torch.float32, max_new_tokens=24)
    answers = detector.ask(frames)
    assert len(answers) == 3 and all(a.startswith("</s>") for a in answers)
    assert all(detections(a, (48, 64)) == [] for a in answers)
    backend = build_annotator("localise", "florence2", dict(model=str(random_folder), max_new_tokens=24, device="cpu", dtype="float32"))
    assert [(r.reason if isinstance(r, AnnotationError) else r) for r in backend([make_clip(t=3, seed=1), make_clip(t=2)])] == [
        "no_person_found", "no_person_found"]


def test_missing_or_foreign_weights_fail_at_construction(tmp_path):
    with pytest.raises(FileNotFoundError, match="florence-community/Florence-2-large"):
        build_annotator("localise", "florence2", dict(model=str(tmp_path / "none")))
    example = Path(__file__).resolve().parents[2] / "preprocess" / "weights.example.yaml"
    with pytest.raises(FileNotFoundError, match="Florence-2-large.* does not exist"):
        build_annotator("localise", "florence2", load_weights(example).backend_kwargs("localise", "florence2"))
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "florence2", "auto_map": {"AutoConfig": "x.Florence2Config"}}))
    with pytest.raises(ValueError, match="not a transformers-native"):
        build_annotator("localise", "florence2", dict(model=str(tmp_path)))
    with pytest.raises(ValueError, match="min_inside"):
        build_annotator("localise", "florence2", dict(model=str(tmp_path), min_inside=0.0))
