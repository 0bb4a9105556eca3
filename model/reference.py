"""ReferenceNet-to-DenoisingNet feature fusion through diffusers attention processors.

The ReferenceNet's self-attention layers (attn1) write their inputs into a `ReferenceBank`; the
DenoisingNet's matching attn1 layers read them and append them to their keys and values, the
reference tokens being repeated for every frame of the clip. Layers pair up by name (spatial
layers have the same names in UNet2DConditionModel and UNetMotionModel). The bank travels in
`cross_attention_kwargs`, so it is an argument of every checkpointed block and a recomputation in
the backward pass reads the same tokens as the forward pass.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
import torch.nn.functional as F
from diffusers.models.attention_processor import Attention, AttnProcessor2_0
from torch.nn.attention import SDPBackend, sdpa_kernel

from .attention_op import attention, backend_for, use_fused_attention

DECODER_PREFIXES = ("mid_block.", "up_blocks.")
# Masked attention, in order of preference (the flash kernels take no mask), then the plain
# arithmetic where no fused kernel runs (CPU). On an H100 the memory-efficient kernel is the faster
# masked one for heads of up to 64 channels and cuDNN's for wider heads (`aa2 bench-attention
# --pack 4`, BENCHMARKS.md).
MASKED_BACKENDS = [SDPBackend.EFFICIENT_ATTENTION, SDPBackend.MATH]
WIDE_HEAD_MASKED_BACKENDS = [SDPBackend.CUDNN_ATTENTION, SDPBackend.EFFICIENT_ATTENTION, SDPBackend.MATH]


def masked_backends(head_dim: int) -> list[SDPBackend]:
    """SDPA backends for a masked attention of this head size, the preferred first."""
    return MASKED_BACKENDS if head_dim <= 64 else WIDE_HEAD_MASKED_BACKENDS


class ReferenceBank:
    """Self-attention inputs of one ReferenceNet pass, by layer name ([B, tokens, channels]).

    Given the layers that will write, the bank starts with an empty slot for each: its size then
    stays the same while the ReferenceNet fills it, so blocks compiled with ``torch.compile``
    (whose guards check the size of a dict they write to) are not compiled again for every size
    the bank passes through. They are still specialised on their layer's name, a dict key.
    """

    def __init__(self, layers: Iterable[str] = ()) -> None:
        self._tokens: dict[str, torch.Tensor | None] = dict.fromkeys(layers)

    def write(self, layer: str, tokens: torch.Tensor) -> None:
        self._tokens[layer] = tokens

    def read(self, layer: str) -> torch.Tensor:
        tokens = self._tokens.get(layer)
        if tokens is None:
            raise KeyError(f"reference bank holds no tokens for {layer}: the ReferenceNet did not write it")
        return tokens

    def layers(self) -> list[str]:
        """Layers written so far."""
        return [layer for layer, tokens in self._tokens.items() if tokens is not None]


def spatial_self_attention_layers(unet: torch.nn.Module) -> list[str]:
    """Names of the spatial attn1 layers (motion-module attention excluded), in module order."""
    names = [k.removesuffix(".processor") for k in unet.attn_processors]
    return [n for n in names if n.endswith("attn1") and ".attentions." in n]


def is_decoder_layer(layer: str) -> bool:
    return layer.startswith(DECODER_PREFIXES)


def fused_layers(unet: torch.nn.Module, scope: str) -> list[str]:
    """Layers that exchange reference tokens: decoder only ("mid_up") or every one ("all")."""
    layers = spatial_self_attention_layers(unet)
    return layers if scope == "all" else [n for n in layers if is_decoder_layer(n)]


def attention_with_reference(attn: Attention, hidden_states: torch.Tensor,
                             reference: torch.Tensor | None, pack: int = 1) -> torch.Tensor:
    """Self-attention whose keys/values also cover `reference` tokens ([B, N, C], B divides batch).

    Without reference tokens this is the arithmetic of diffusers' AttnProcessor2_0 on 3D input,
    which is what makes the parity tests exact. Reference keys and values are projected once per
    clip and then repeated per frame instead of projecting F copies.

    ``pack`` > 1 (no reference tokens; it divides the batch): each run of ``pack`` sequences of
    the batch attends as one row of ``pack`` times the tokens, under a block-diagonal mask that
    keeps every sequence to its own tokens (:mod:`model.temporal`); the same result up to rounding.

    While a model compiles inside :func:`model.attention_op.fused_attention`, the attention runs
    as that module's custom op, over 3-D tensors, where the op has a kernel for it.
    """
    batch, tokens = hidden_states.shape[:2]
    if pack > 1 and (reference is not None or batch % pack):
        raise ValueError(f"packing {pack} sequences a row needs no reference tokens and a batch it divides, got {batch}")
    query, key, value = attn.to_q(hidden_states), attn.to_k(hidden_states), attn.to_v(hidden_states)
    if reference is not None:
        frames = batch // reference.shape[0]
        ref_key = attn.to_k(reference).repeat_interleave(frames, dim=0)
        ref_value = attn.to_v(reference).repeat_interleave(frames, dim=0)
        key, value = torch.cat([key, ref_key], dim=1), torch.cat([value, ref_value], dim=1)
    head_dim = key.shape[-1] // attn.heads
    rows = batch // pack
    mask = None
    if pack > 1:
        sequence = torch.arange(pack * tokens, device=query.device) // tokens
        mask = sequence[:, None] == sequence[None, :]
    if use_fused_attention() and attn.norm_q is None and attn.norm_k is None \
            and backend_for(query, head_dim, mask is not None) is not None:  # compiling: 3-D tensors only
        out = attention(*(t.reshape(rows, -1, t.shape[-1]) for t in (query, key, value)), attn.heads, mask)
        out = out.reshape(batch, -1, out.shape[-1]).to(query.dtype)
    else:
        out = _heads_attention(attn, *(t.reshape(rows, -1, attn.heads, head_dim).transpose(1, 2)
                                       for t in (query, key, value)), mask)
        out = out.transpose(1, 2).reshape(batch, -1, attn.heads * head_dim).to(query.dtype)
    out = attn.to_out[1](attn.to_out[0](out))
    if attn.residual_connection:
        out = out + hidden_states
    return out / attn.rescale_output_factor


def _heads_attention(attn: Attention, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                     mask: torch.Tensor | None) -> torch.Tensor:
    """``F.scaled_dot_product_attention`` over [rows, heads, tokens, channels]; a mask's kernel by head size."""
    if attn.norm_q is not None:
        query = attn.norm_q(query)
    if attn.norm_k is not None:
        key = attn.norm_k(key)
    if mask is None:
        return F.scaled_dot_product_attention(query, key, value, dropout_p=0.0, is_causal=False)
    # cuDNN's place in the default order varies with the card and the cuDNN version: where it is
    # preferred the order is set, otherwise the default call is kept
    backends = masked_backends(query.shape[-1])
    with sdpa_kernel(backends, set_priority=backends is WIDE_HEAD_MASKED_BACKENDS):
        return F.scaled_dot_product_attention(query, key, value, attn_mask=mask)


def _check_plain_self_attention(layer: str, attn: Attention) -> None:
    if attn.spatial_norm is not None or attn.group_norm is not None or attn.is_cross_attention:
        raise ValueError(f"{layer} is not a plain self-attention layer; reference fusion cannot use it")


def attends_to_one_frozen_key(attn: Attention, hidden_states: torch.Tensor, context: torch.Tensor | None,
                              attention_mask: torch.Tensor | None) -> bool:
    """Whether this call is cross-attention over a single context token (the image embedding) whose
    output :func:`one_key_attention` gives: no mask, no norm of the context or of the input, no
    dropout at work, and no gradient wanted for the weights of the queries and keys."""
    if context is None or context.ndim != 3 or context.shape[1] != 1 or attention_mask is not None:
        return False
    if hidden_states.ndim != 3 or attn.norm_cross is not None or attn.spatial_norm is not None \
            or attn.group_norm is not None:
        return False
    dropout = attn.to_out[1]
    if attn.training and isinstance(dropout, torch.nn.Dropout) and dropout.p > 0:
        return False
    scoring = [m for m in (attn.to_q, attn.to_k, attn.norm_q, attn.norm_k) if m is not None]
    return not (torch.is_grad_enabled() and any(p.requires_grad for m in scoring for p in m.parameters()))


def one_key_attention(attn: Attention, hidden_states: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
    """Cross-attention over one context token: the softmax over a single key is exactly 1, so every
    query's output is that token's value whatever the query, and the output projection of it is the
    same for every query. Computed once a sequence and broadcast over its queries, without the
    query and key projections or the attention kernel (whose gradients toward the queries, the
    keys and the input are zero in exact arithmetic). The same results up to rounding; see
    :func:`attends_to_one_frozen_key` for when it applies."""
    out = attn.to_out[1](attn.to_out[0](attn.to_v(context))).expand(-1, hidden_states.shape[1], -1)
    if attn.residual_connection:
        out = out + hidden_states
    return out / attn.rescale_output_factor


class ConditionedAttnProcessor(AttnProcessor2_0):
    """Stock SDPA attention that accepts (and ignores) the AA2 conditioning kwargs; cross-attention
    over a single frozen key (the image embedding, in stage 2 and at sampling) is computed as
    :func:`one_key_attention`, and plain self-attention inside
    :func:`model.attention_op.fused_attention` as :func:`attention_with_reference`."""

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, temb=None,
                 reference_bank=None, object_features=None):
        if attends_to_one_frozen_key(attn, hidden_states, encoder_hidden_states, attention_mask):
            return one_key_attention(attn, hidden_states, encoder_hidden_states)
        if use_fused_attention() and encoder_hidden_states is None and attention_mask is None \
                and hidden_states.ndim == 3 and attn.spatial_norm is None and attn.group_norm is None:
            return attention_with_reference(attn, hidden_states, None)  # the same arithmetic, as the custom op
        return super().__call__(attn, hidden_states, encoder_hidden_states, attention_mask, temb)


class ReferenceWriteProcessor(ConditionedAttnProcessor):
    """ReferenceNet attn1: store the layer input in the bank, then attend as usual."""

    def __init__(self, layer: str) -> None:
        super().__init__()
        self.layer = layer

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, temb=None,
                 reference_bank=None, object_features=None):
        if reference_bank is not None:
            reference_bank.write(self.layer, hidden_states)
        return super().__call__(attn, hidden_states, encoder_hidden_states, attention_mask, temb)


class ReferenceReadProcessor:
    """DenoisingNet attn1: attend over its own and the reference tokens, then optionally blend.

    `blend(tokens, object_features)` (spatial blending with object features) runs on the
    attention output when the layer has one and object features are given.
    """

    def __init__(self, layer: str, blend: Callable | None = None) -> None:
        self.layer = layer
        self.blend = blend

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, temb=None,
                 reference_bank=None, object_features=None):
        if encoder_hidden_states is not None or attention_mask is not None or hidden_states.ndim != 3:
            raise ValueError(f"{self.layer}: reference attention takes [B, N, C] tokens, no mask, no context")
        reference = reference_bank.read(self.layer) if reference_bank is not None else None
        out = attention_with_reference(attn, hidden_states, reference)
        if self.blend is not None and object_features is not None:
            out = self.blend(out, object_features)
        return out


def _modules_by_name(unet: torch.nn.Module, layers: Iterable[str]) -> dict[str, Attention]:
    modules = dict(unet.named_modules())
    return {layer: modules[layer] for layer in layers}


def install_reference_writers(reference_unet: torch.nn.Module, layers: list[str]) -> None:
    """ReferenceNet: writers on `layers`, kwargs-tolerant stock processors everywhere else."""
    for layer, attn in _modules_by_name(reference_unet, layers).items():
        _check_plain_self_attention(layer, attn)
    reference_unet.set_attn_processor({
        name: ReferenceWriteProcessor(name.removesuffix(".processor"))
        if name.removesuffix(".processor") in layers else ConditionedAttnProcessor()
        for name in reference_unet.attn_processors
    })


def install_reference_readers(denoising_unet: torch.nn.Module, layers: list[str],
                              blends: dict[str, Callable] | None = None) -> None:
    """DenoisingNet: readers on `layers` (with their blend, if any); motion modules keep theirs."""
    blends = blends or {}
    for layer, attn in _modules_by_name(denoising_unet, layers).items():
        _check_plain_self_attention(layer, attn)
    processors = {}
    for name, current in denoising_unet.attn_processors.items():
        layer = name.removesuffix(".processor")
        if layer in layers:
            processors[name] = ReferenceReadProcessor(layer, blends.get(layer))
        elif ".attentions." in layer:
            processors[name] = ConditionedAttnProcessor()
        else:
            processors[name] = current
    denoising_unet.set_attn_processor(processors)
