"""Batched object detection with Florence-2 through transformers' native classes (local weights).

Task: ``<OD>``. The localise role wants the person and the objects it holds or touches; no
Florence-2 task answers "what does the person touch", so the model is asked to name and box every
object it sees and the backend keeps those lying on the person (the contact rule of the Grounding
DINO backend). The alternatives fit worse: ``<CAPTION_TO_PHRASE_GROUNDING>`` grounds the phrases
it is given, which invites boxes for candidate objects that are not in the frame, and labels them
with the phrase ("a man") rather than a category; ``<OPEN_VOCABULARY_DETECTION>`` takes one
category per prompt, so one generation per candidate label.

The answer is Florence-2's location-token text (``person<loc_x1><loc_y1><loc_x2><loc_y2>...``,
1000 bins per axis over the whole image, so the processor's square resize does not matter);
:func:`preprocess.models.vlm_parse.parse_grounding` turns it into boxes in frame pixels.
Every keyframe gets the same prompt, so a batch needs no text padding; the tokenizer keeps its
right padding anyway, since BART's learned positions would shift under left padding.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from .vlm_parse import Detection, parse_grounding

TASK = "<OD>"


def detections(text: str, frame_hw: tuple[int, int]) -> list[Detection]:
    """A raw Florence-2 answer as validated detections in pixels of the frame it was asked about."""
    return parse_grounding(text, "florence2", frame_hw)


def check_native_format(folder: str | Path, fetch_hint: str) -> None:
    """The original release runs on remote code that transformers' own classes cannot load (its
    weights would be dropped and re-initialised at random): refuse it at start."""
    config = json.loads((Path(folder) / "config.json").read_text())
    if "auto_map" in config or config.get("model_type") != "florence2":
        raise ValueError(f"{folder} is not a transformers-native Florence-2 folder (remote-code release or another "
                         f"model); fetch {fetch_hint}")


class FlorenceDetector:
    def __init__(self, path: str, device: torch.device, dtype: torch.dtype, max_new_tokens: int = 512, num_beams: int = 3):
        from transformers import AutoProcessor, Florence2ForConditionalGeneration

        self.device, self.dtype, self.max_new_tokens, self.num_beams = device, dtype, max_new_tokens, num_beams
        self.processor = AutoProcessor.from_pretrained(path)
        self.model = Florence2ForConditionalGeneration.from_pretrained(path, dtype=dtype).to(device).eval()

    @torch.inference_mode()
    def ask(self, images: list[np.ndarray]) -> list[str]:
        """One raw answer per image, special tokens kept (``</s><s>label<loc_..>...</s><pad>``)."""
        from PIL import Image

        pil = [Image.fromarray(np.ascontiguousarray(im)) for im in images]
        inputs = self.processor(text=[TASK] * len(pil), images=pil, return_tensors="pt", padding=True).to(self.device)
        inputs["pixel_values"] = inputs["pixel_values"].to(self.dtype)
        out = self.model.generate(**inputs, max_new_tokens=self.max_new_tokens, num_beams=self.num_beams, do_sample=False)
        # location tokens are added tokens: decoding must keep them, the parser drops <s>, </s>, <pad>
        return self.processor.batch_decode(out, skip_special_tokens=False)

    def detect(self, images: list[np.ndarray]) -> list[list[Detection]]:
        return [detections(text, im.shape[:2]) for text, im in zip(self.ask(images), images)]
