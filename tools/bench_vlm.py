"""Keyframes/s of the localise VLM (Qwen2.5-VL-7B-Instruct) on one GPU: random weights, production path.

The model is the released architecture (``QWEN2_5_VL_7B``, the values of its config.json) with
random bf16 weights initialised on the device. The processor is a real Qwen2.5-VL processor with
the released image settings and a stand-in tokenizer (:mod:`tools.vlm_offline`), saved and loaded
back through ``AutoProcessor`` as the backend loads it. Generation runs through
``GroundingVLM.ask`` with the localise backend's pixel cap (``VlmConfig.max_pixels``), on batches
of random uint8 keyframes.

Answer length: random weights emit the end token only by chance, so every answer is held to
exactly ``max_new_tokens`` tokens (``min_new_tokens = max_new_tokens``). Decoding is one forward
pass of the 7B model per token, so this length sets the cost. A real answer is a JSON list like
the one the prompt asks for; Qwen's tokenizer splits digits, so one ``{"bbox_2d": [...], "label":
...}`` entry is about 35-40 tokens: about 45 for the person alone (with the ``json`` fence), 80
with one object, 115 with two. The default, 64, sits between the first two. ``decode_ms_per_token``
is reported so that other lengths can be read off: a call takes about
``prefill_s + (n - 1) * decode_ms_per_token``.

``tiny=True`` runs a toy config of the same class (a CPU check of this code) whose output layer
is zero: left alone it would end every answer at once, so the check fails unless the forced length
reaches ``generate``.
"""

from __future__ import annotations

import logging
import tempfile
import time

import numpy as np

from tools.timing import sync, timed

log = logging.getLogger("bench_vlm")

QWEN2_5_VL_7B = dict(  # Qwen/Qwen2.5-VL-7B-Instruct config.json; token ids come from the tokenizer instead
    text_config=dict(
        vocab_size=152064, hidden_size=3584, intermediate_size=18944, num_hidden_layers=28, num_attention_heads=28,
        num_key_value_heads=4, hidden_act="silu", max_position_embeddings=128000, rms_norm_eps=1e-6,
        use_sliding_window=False, sliding_window=32768, max_window_layers=28, attention_dropout=0.0,
        rope_theta=1000000.0, rope_scaling={"type": "mrope", "mrope_section": [16, 24, 24]},
    ),
    vision_config=dict(
        depth=32, hidden_size=1280, intermediate_size=3420, num_heads=16, hidden_act="silu", in_channels=3,
        out_hidden_size=3584, patch_size=14, spatial_merge_size=2, temporal_patch_size=2, window_size=112,
        fullatt_block_indexes=[7, 15, 23, 31], tokens_per_second=2,
    ),
    tie_word_embeddings=False,
)  # fmt: skip
MODELS = {"qwen2.5_vl_7b": QWEN2_5_VL_7B}
REPETITION_PENALTY = 1.05  # the released generation_config.json; greedy decoding still applies it


def build_processor():
    """The offline Qwen2.5-VL processor, round-tripped through ``AutoProcessor`` like a model folder."""
    import transformers

    from tools.vlm_offline import offline_processor

    with tempfile.TemporaryDirectory() as folder:
        offline_processor("qwen2_5_vl").save_pretrained(folder)
        return transformers.AutoProcessor.from_pretrained(folder)


def build_model(name: str, tiny: bool, tokenizer, device):
    """Random bf16 weights created on ``device`` (a 7B model initialises in seconds on a GPU)."""
    import torch
    import transformers

    from tools.vlm_offline import tiny_config, token_ids

    if tiny:
        config = tiny_config("qwen2_5_vl", tokenizer)
    else:
        spec = MODELS[name]
        ends = dict(bos_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
        config = transformers.Qwen2_5_VLConfig(**{**spec, "text_config": {**spec["text_config"], **ends}}, **token_ids(tokenizer))
    with torch.device(device):
        model = transformers.Qwen2_5_VLForConditionalGeneration._from_config(config, dtype=torch.bfloat16).eval()
    gen = model.generation_config  # as released: <|im_end|> and <|endoftext|> both end an answer
    gen.eos_token_id, gen.pad_token_id = [tokenizer.eos_token_id, tokenizer.pad_token_id], tokenizer.pad_token_id
    gen.repetition_penalty = REPETITION_PENALTY
    if tiny:  # all logits tie, so greedy picks token 0, <|endoftext|>: only the forced length keeps the toy going
        with torch.no_grad():
            model.lm_head.weight.zero_()
    return model




def _gib(device, peak: bool) -> float:
    import torch

    if device.type != "cuda":
        return 0.0
    return (torch.cuda.max_memory_allocated(device) if peak else torch.cuda.memory_allocated(device)) / 2**30


def bench_vlm(device, tiny: bool, batch: int, max_new_tokens: int = 64, image_hw=(512, 912), repeat: int = 2,
              name: str = "qwen2.5_vl_7b") -> dict:
    """Keyframes/s of ``GroundingVLM.ask`` on ``batch`` random keyframes, answers of ``max_new_tokens``."""
    import torch
    import transformers  # noqa: F401  (its import time stays out of init_s)

    from preprocess.annotators.vlm import VlmConfig
    from preprocess.models.vlm import GroundingVLM

    if name not in MODELS:
        raise ValueError(f"unknown VLM {name!r}; expected one of {sorted(MODELS)}")
    if max_new_tokens < 2 or batch < 1 or repeat < 1:
        raise ValueError("max_new_tokens must be >= 2 (prefill and decode are timed apart); batch and repeat >= 1")
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
    start = time.perf_counter()
    processor = build_processor()
    model = build_model(name, tiny, processor.tokenizer, device)
    sync(device)
    init_s, weights_gib = time.perf_counter() - start, _gib(device, peak=False)
    cap = VlmConfig().max_pixels  # the localise backend's cap on image tokens per keyframe
    full, prefill = (GroundingVLM.from_model(model, processor, "qwen2_5_vl", device, max_pixels=cap,
                                             max_new_tokens=n, min_new_tokens=n) for n in (max_new_tokens, 1))
    images = list(np.random.default_rng(0).integers(0, 256, size=(batch, *image_hw, 3), dtype=np.uint8))
    inputs = full._inputs(images)
    answers: list = []
    full.ask(images)  # warm-up: kernels, allocator, processor caches
    call_s = timed(lambda: answers.extend(full.ask(images)), device, repeat)
    prefill.ask(images)
    prefill_s = timed(lambda: prefill.ask(images), device, repeat)
    preprocess_s = timed(lambda: full._inputs(images), device, repeat)
    grid = inputs["image_grid_thw"][0].tolist()
    merge = int(processor.image_processor.merge_size)
    patch = int(processor.image_processor.patch_size)
    row = {"model": name + (" (tiny)" if tiny else ""), "image": f"{image_hw[0]}x{image_hw[1]}",
           "model_image": f"{grid[1] * patch}x{grid[2] * patch}", "batch": batch, "keyframes": len(answers),
           "keyframes_per_s": round(batch / call_s, 3), "image_tokens": grid[0] * grid[1] * grid[2] // merge**2,
           "prefill_tokens": int(inputs["attention_mask"].sum(1).max()), "answer_tokens": sorted({a.tokens for a in answers}),
           "call_s": round(call_s, 4), "prefill_s": round(prefill_s, 4), "preprocess_s": round(preprocess_s, 4),
           "decode_ms_per_token": round((call_s - prefill_s) / (max_new_tokens - 1) * 1000, 2),
           "init_s": round(init_s, 2), "weights_gib": round(weights_gib, 2), "peak_gib": round(_gib(device, peak=True), 2)}
    del full, prefill, model
    return row
