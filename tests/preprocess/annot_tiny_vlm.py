"""Tiny Qwen2.5-VL / Qwen3-VL folders (random weights, stand-in tokenizer) for the VLM tests.

The processor (real image processor, chat template, a small BPE tokenizer) and the toy configs
come from :mod:`tools.vlm_offline`; here they are saved with ``save_pretrained`` so everything
loads through ``from_pretrained``, as the released folders do.
"""

from __future__ import annotations

from pathlib import Path

import torch

from tools.vlm_offline import IMAGES, offline_processor, tiny_config

MODELS = {"qwen2_5_vl": "Qwen2_5_VLForConditionalGeneration", "qwen3_vl": "Qwen3VLForConditionalGeneration"}


def build_tiny_vlm(folder: Path, family: str, seed: int = 0):
    """Write a loadable tiny model folder; returns (model, processor) as saved."""
    import transformers

    factor = IMAGES[family][0] * 2  # a merged patch, in pixels; small budgets keep the CPU tests fast
    processor = offline_processor(family, min_pixels=factor**2 * 4, max_pixels=factor**2 * 16)
    torch.manual_seed(seed)
    model = getattr(transformers, MODELS[family])(tiny_config(family, processor.tokenizer)).eval()
    processor.save_pretrained(folder)
    model.save_pretrained(folder)
    return model, processor
