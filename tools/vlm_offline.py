"""Qwen-VL processors built without hub files, for random-weight models (benchmarks and tests).

The image processor and the chat template are the released ones in substance: the pixel budget,
patch and merge sizes and normalisation of Qwen2.5-VL, and its default system turn. Only the
tokenizer stands in for the real one, which cannot be downloaded: a byte-level BPE with Qwen2's
pre-tokenizer split, trained in milliseconds on the grounding prompt and the template's words.
It encodes any text; the prompt comes out at about the length the real vocabulary gives (one
token per word, digits split), so prefill lengths stay realistic. The Qwen special tokens come
first (ids 0-6); a model built for this tokenizer takes its ids from :func:`token_ids`.
"""

from __future__ import annotations

SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>", "<|image_pad|>", "<|video_pad|>"]
# Qwen2's pre-tokenizer split (tokenizer.json of the Qwen2 / Qwen2.5 family)
SPLIT = r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""
SYSTEM = "You are a helpful assistant."
_TURNS = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{% for c in m['content'] %}"
    "{% if c['type'] == 'image' %}<|vision_start|><|image_pad|><|vision_end|>{% else %}{{ c['text'] }}{% endif %}"
    "{% endfor %}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
TEMPLATES = {  # Qwen2.5-VL adds a default system turn when the chat has none; Qwen3-VL does not
    "qwen2_5_vl": "{% if messages[0]['role'] != 'system' %}<|im_start|>system\n" + SYSTEM + "<|im_end|>\n{% endif %}" + _TURNS,
    "qwen3_vl": _TURNS,
}
# released preprocessor_config.json values: (patch, min_pixels, max_pixels, mean, std)
CLIP_MEAN, CLIP_STD = [0.48145466, 0.4578275, 0.40821073], [0.26862954, 0.26130258, 0.27577711]
IMAGES = {
    "qwen2_5_vl": (14, 56 * 56, 28 * 28 * 16384, CLIP_MEAN, CLIP_STD),
    "qwen3_vl": (16, 65536, 16777216, [0.5] * 3, [0.5] * 3),
}
CLASSES = {  # processor, video processor
    "qwen2_5_vl": ("Qwen2_5_VLProcessor", "Qwen2VLVideoProcessor"),
    "qwen3_vl": ("Qwen3VLProcessor", "Qwen3VLVideoProcessor"),
}


def stand_in_tokenizer():
    """Byte-level BPE over the grounding prompt and template words; Qwen special tokens at ids 0-6."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    from preprocess.models.vlm import PROMPT

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Split(Regex(SPLIT), "isolated"), pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=4096, special_tokens=SPECIAL, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator([PROMPT, SYSTEM, "system\n", "user\n", "assistant\n"], trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>")


def token_ids(tokenizer) -> dict:
    """The special-token ids a Qwen-VL model config needs to match ``tokenizer``."""
    ids = tokenizer.convert_tokens_to_ids
    return dict(image_token_id=ids("<|image_pad|>"), video_token_id=ids("<|video_pad|>"),
                vision_start_token_id=ids("<|vision_start|>"), vision_end_token_id=ids("<|vision_end|>"))


def offline_processor(family: str, min_pixels: int | None = None, max_pixels: int | None = None):
    """A real Qwen-VL processor (image processor with the released settings unless overridden)."""
    import transformers
    from transformers import Qwen2VLImageProcessor

    patch, low, high, mean, std = IMAGES[family]
    images = Qwen2VLImageProcessor(patch_size=patch, merge_size=2, temporal_patch_size=2, image_mean=mean, image_std=std,
                                   size={"shortest_edge": min_pixels or low, "longest_edge": max_pixels or high})
    processor_cls, video_cls = (getattr(transformers, name) for name in CLASSES[family])
    return processor_cls(image_processor=images, tokenizer=stand_in_tokenizer(), video_processor=video_cls(),
                         chat_template=TEMPLATES[family])


def tiny_config(family: str, tokenizer):
    """A toy Qwen2.5-VL / Qwen3-VL config (same classes as the released models) for ``tokenizer``."""
    from transformers import Qwen2_5_VLConfig, Qwen3VLConfig

    vocab = len(tokenizer)
    text = dict(vocab_size=vocab, hidden_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                intermediate_size=128, max_position_embeddings=4096, eos_token_id=tokenizer.eos_token_id, bos_token_id=None,
                pad_token_id=tokenizer.pad_token_id, head_dim=16)
    if family == "qwen2_5_vl":
        text["rope_scaling"] = {"type": "mrope", "mrope_section": [2, 3, 3]}
        vision = dict(depth=1, hidden_size=32, out_hidden_size=64, num_heads=2, intermediate_size=64, patch_size=14,
                      spatial_merge_size=2, temporal_patch_size=2, fullatt_block_indexes=[0], window_size=112)
        return Qwen2_5_VLConfig(text_config=text, vision_config=vision, **token_ids(tokenizer))
    text["rope_parameters"] = {"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [4, 2, 2], "mrope_interleaved": True}
    vision = dict(depth=1, hidden_size=32, out_hidden_size=64, num_heads=2, intermediate_size=64, patch_size=16,
                  spatial_merge_size=2, temporal_patch_size=2, num_position_embeddings=64, deepstack_visual_indexes=[0])
    return Qwen3VLConfig(text_config=text, vision_config=vision, **token_ids(tokenizer))
