"""Tiny Qwen2.5-VL / Qwen3-VL folders (random weights, character-level tokenizer) for the VLM tests.

No tokenizer files can be downloaded, so the tokenizer is built here with the ``tokenizers``
library: one token per printable character plus the Qwen chat and vision special tokens, saved
as ``tokenizer.json`` next to a real image processor, a chat template and ``config.json`` +
``model.safetensors`` written by ``save_pretrained``. Everything loads through ``from_pretrained``.
"""

from __future__ import annotations

import string
from pathlib import Path

import torch

SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>", "<|image_pad|>", "<|video_pad|>"]
TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{% for c in m['content'] %}"
    "{% if c['type'] == 'image' %}<|vision_start|><|image_pad|><|vision_end|>{% else %}{{ c['text'] }}{% endif %}"
    "{% endfor %}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def _tokenizer():
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    chars = sorted(set(string.printable) - set("\r\x0b\x0c"))
    vocab = {tok: i for i, tok in enumerate(SPECIAL + chars)}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<|endoftext|>"))
    tok.pre_tokenizer = pre_tokenizers.Split("", "isolated")
    tok.decoder = decoders.Fuse()
    tok.add_special_tokens(SPECIAL)
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>"), vocab


def _config(family: str, vocab: dict):
    from transformers import Qwen2_5_VLConfig, Qwen3VLConfig

    ids = dict(image_token_id=vocab["<|image_pad|>"], video_token_id=vocab["<|video_pad|>"],
               vision_start_token_id=vocab["<|vision_start|>"], vision_end_token_id=vocab["<|vision_end|>"])
    text = dict(vocab_size=len(vocab), hidden_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                intermediate_size=128, max_position_embeddings=2048, eos_token_id=vocab["<|im_end|>"], bos_token_id=None,
                pad_token_id=0, head_dim=16)
    if family == "qwen2_5_vl":
        text["rope_scaling"] = {"type": "mrope", "mrope_section": [2, 3, 3]}
        vision = dict(depth=1, hidden_size=32, out_hidden_size=64, num_heads=2, intermediate_size=64, patch_size=14,
                      spatial_merge_size=2, temporal_patch_size=2, fullatt_block_indexes=[0], window_size=112)
        return Qwen2_5_VLConfig(text_config=text, vision_config=vision, **ids)
    text["rope_parameters"] = {"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [4, 2, 2], "mrope_interleaved": True}
    vision = dict(depth=1, hidden_size=32, out_hidden_size=64, num_heads=2, intermediate_size=64, patch_size=16,
                  spatial_merge_size=2, temporal_patch_size=2, num_position_embeddings=64, deepstack_visual_indexes=[0])
    return Qwen3VLConfig(text_config=text, vision_config=vision, **ids)


def build_tiny_vlm(folder: Path, family: str, seed: int = 0):
    """Write a loadable tiny model folder; returns (model, processor) as saved."""
    import transformers
    from transformers import Qwen2VLImageProcessor

    tokenizer, vocab = _tokenizer()
    patch = 14 if family == "qwen2_5_vl" else 16
    factor = patch * 2
    images = Qwen2VLImageProcessor(patch_size=patch, merge_size=2, size={"shortest_edge": factor**2 * 4, "longest_edge": factor**2 * 16})
    names = {"qwen2_5_vl": ("Qwen2_5_VLProcessor", "Qwen2VLVideoProcessor", "Qwen2_5_VLForConditionalGeneration"),
             "qwen3_vl": ("Qwen3VLProcessor", "Qwen3VLVideoProcessor", "Qwen3VLForConditionalGeneration")}[family]
    processor = getattr(transformers, names[0])(image_processor=images, tokenizer=tokenizer,
                                                video_processor=getattr(transformers, names[1])(), chat_template=TEMPLATE)
    torch.manual_seed(seed)
    model = getattr(transformers, names[2])(_config(family, vocab)).eval()
    processor.save_pretrained(folder)
    model.save_pretrained(folder)
    return model, processor
