"""Batched grounding with Qwen2.5-VL / Qwen3-VL through transformers, on local weights only.

``GroundingVLM.ask(images)`` puts one image per chat in a single left-padded batch, generates
greedily, and returns each answer with the size of the image as the model saw it (needed for
Qwen2.5-VL, whose boxes are in pixels of that resized image) and the number of tokens generated.
``GroundingVLM.from_model`` wraps a model and processor built in memory (random-weight benchmarks).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

PROMPT = (
    "Locate the main person in this image and every object the person holds, carries, rides, pushes or "
    "touches. Answer with JSON only: a list of {\"bbox_2d\": [x1, y1, x2, y2], \"label\": \"name\"}. "
    "Use the label \"person\" for the person. If the person touches nothing, list only the person."
)

FAMILIES = {
    "qwen2_5_vl": "Qwen2_5_VLForConditionalGeneration",
    "qwen3_vl": "Qwen3VLForConditionalGeneration",
}


@dataclass
class Answer:
    text: str
    model_hw: tuple[int, int]  # (height, width) of the image the model saw
    tokens: int = 0  # tokens generated, end token included; max_new_tokens means the answer was cut off


class GroundingVLM:
    def __init__(self, path: str, family: str, device: torch.device, dtype: torch.dtype,
                 max_new_tokens: int = 256, max_pixels: int | None = None, prompt: str = PROMPT, min_new_tokens: int = 0):
        import transformers

        _check_family(family)
        processor = transformers.AutoProcessor.from_pretrained(path)
        model = getattr(transformers, FAMILIES[family]).from_pretrained(path, dtype=dtype).to(device).eval()
        self._bind(model, processor, family, device, max_new_tokens, max_pixels, prompt, min_new_tokens)

    @classmethod
    def from_model(cls, model, processor, family: str, device: torch.device, **options) -> GroundingVLM:
        """Wrap a model and processor already in memory (random-weight benchmarks); options as ``__init__``."""
        _check_family(family)
        vlm = cls.__new__(cls)
        vlm._bind(model.eval(), processor, family, device, **options)
        return vlm

    def _bind(self, model, processor, family, device, max_new_tokens: int = 256, max_pixels: int | None = None,
              prompt: str = PROMPT, min_new_tokens: int = 0) -> None:
        self.model, self.processor, self.family, self.device, self.prompt = model, processor, family, device, prompt
        # min_new_tokens > 0 holds back the end-of-answer token: fixed-length answers for benchmarks
        self.max_new_tokens, self.min_new_tokens = max_new_tokens, min_new_tokens
        self.processor.tokenizer.padding_side = "left"  # decoder-only batching pads on the left
        self.size = None  # the processor's own pixel budget per image unless capped
        if max_pixels is not None:
            self.size = {**dict(self.processor.image_processor.size), "longest_edge": max_pixels}

    def _inputs(self, images: list[np.ndarray]):
        from PIL import Image

        chat = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": self.prompt}]}]
        text = self.processor.apply_chat_template(chat, add_generation_prompt=True, tokenize=False)
        pil = [Image.fromarray(np.ascontiguousarray(im)) for im in images]
        extra = {"size": self.size} if self.size else {}
        return self.processor(text=[text] * len(pil), images=pil, return_tensors="pt", padding=True, **extra).to(self.device)

    @torch.inference_mode()
    def ask(self, images: list[np.ndarray]) -> list[Answer]:
        inputs = self._inputs(images)
        out = self.model.generate(**inputs, max_new_tokens=self.max_new_tokens, min_new_tokens=self.min_new_tokens or None,
                                  do_sample=False)
        new = out[:, inputs["input_ids"].shape[1] :]
        texts = self.processor.batch_decode(new, skip_special_tokens=True)
        patch = int(self.processor.image_processor.patch_size)
        grids = inputs["image_grid_thw"].tolist()
        return [Answer(t, (g[1] * patch, g[2] * patch), n) for t, g, n in zip(texts, grids, self._lengths(new))]

    def _lengths(self, new: torch.Tensor) -> list[int]:
        """Tokens of each answer up to its first end token (padding after it is not counted)."""
        eos = self.model.generation_config.eos_token_id
        if eos is None:
            return [new.shape[1]] * len(new)
        ended = torch.isin(new, torch.tensor(eos, device=new.device).reshape(-1))
        return torch.where(ended.any(1), ended.int().argmax(1) + 1, new.shape[1]).tolist()


def _check_family(family: str) -> None:
    if family not in FAMILIES:
        raise ValueError(f"unknown VLM family {family!r}; expected one of {sorted(FAMILIES)}")
