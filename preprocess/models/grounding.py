"""Batched open-vocabulary detection with Grounding DINO through transformers (local weights).

The text query lists the candidate labels (``"person. ball. bag."``); transformers'
``post_process_grounded_object_detection`` turns the normalised centre-size boxes into pixels of
each frame through ``target_sizes``, and the boxes are validated like every other localiser's.
"""

from __future__ import annotations

import numpy as np
import torch

from .boxes import validate_box
from .vlm_parse import Detection


class GroundingDetector:
    def __init__(self, path: str, device: torch.device, dtype: torch.dtype, box_threshold: float = 0.35,
                 text_threshold: float = 0.25):
        from transformers import AutoModelForZeroShotObjectDetection, AutoProcessor

        self.device, self.dtype = device, dtype
        self.box_threshold, self.text_threshold = box_threshold, text_threshold
        self.processor = AutoProcessor.from_pretrained(path)
        self.model = AutoModelForZeroShotObjectDetection.from_pretrained(path, dtype=dtype).to(device).eval()

    @torch.inference_mode()
    def detect(self, images: list[np.ndarray], labels: list[str]) -> list[list[Detection]]:
        from PIL import Image

        text = " ".join(f"{label.strip().lower()}." for label in labels)
        pil = [Image.fromarray(np.ascontiguousarray(im)) for im in images]
        inputs = self.processor(images=pil, text=[text] * len(pil), return_tensors="pt", padding=True).to(self.device)
        limit = self.model.config.max_text_len
        if inputs["input_ids"].shape[1] > limit:
            raise ValueError(f"the label query is {inputs['input_ids'].shape[1]} tokens, the model takes {limit}: use fewer labels")
        inputs["pixel_values"] = inputs["pixel_values"].to(self.dtype)
        outputs = self.model(**inputs)
        outputs.logits, outputs.pred_boxes = outputs.logits.float(), outputs.pred_boxes.float()
        sizes = [im.shape[:2] for im in images]
        results = self.processor.post_process_grounded_object_detection(
            outputs, inputs["input_ids"], threshold=self.box_threshold, text_threshold=self.text_threshold, target_sizes=sizes)
        return [self._detections(r, hw) for r, hw in zip(results, sizes)]

    @staticmethod
    def _detections(result: dict, hw: tuple[int, int]) -> list[Detection]:
        found = []
        for box, label in zip(result["boxes"].tolist(), result["text_labels"]):
            valid = validate_box(box, hw)
            if valid is not None and label.strip():
                found.append(Detection(label.strip().lower(), valid))
        return found
