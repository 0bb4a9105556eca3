"""Attention over [batch, tokens, heads * channels] tensors as one custom op, forward and backward.

``torch.compile`` sees ``F.scaled_dot_product_attention`` as a 4-D kernel call, [batch, heads,
tokens, channels], and AOTAutograd hands that kernel's 4-D output to the backward pass. Inductor
gives every 4-D tensor saved for the backward a channels-last layout once its graph has
convolutions (the UNets' graphs do), so attention's output is copied out to that layout in the
forward, copied back for the output projection and copied again for the kernel's backward.
:func:`attention` runs the same fused kernels inside the custom ops ``aa2::attention`` and
``aa2::attention_backward``, whose tensors are 3-D: the [batch, tokens, heads * channels]
queries, keys, values, output and gradients, and the kernels' softmax statistics. Nothing 4-D
crosses the compiled graph, so Inductor lays out nothing again.

The kernel is picked as the stock call picks it on a Hopper card (:func:`backend_for`): cuDNN's
without a mask, the memory-efficient kernel or cuDNN's under a mask by head size
(:func:`model.reference.masked_backends`), the CPU's flash kernel on the CPU. The same results as
the stock call where the same kernel runs. Elsewhere (float32 on a GPU, cards before Hopper,
whose stock call picks other kernels) the model keeps the stock call.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import Tensor

CUDNN, EFFICIENT, CPU_FLASH = 0, 1, 2
_aten = torch.ops.aten
# set by :func:`fused_attention`, read while a model compiles: the op is on; the current GPU is a Hopper or newer
_enabled = _hopper = False


@contextmanager
def fused_attention(enabled: bool = True) -> Iterator[None]:
    """Inside, attention that a model runs while ``torch.compile`` traces it goes through the
    custom op where :func:`backend_for` has a kernel for it
    (:func:`model.reference.attention_with_reference`); eager calls stay stock."""
    global _enabled, _hopper
    before = _enabled, _hopper
    _enabled = enabled
    _hopper = enabled and torch.cuda.is_available() and torch.cuda.get_device_capability() >= (9, 0)
    try:
        yield
    finally:
        _enabled, _hopper = before


def use_fused_attention() -> bool:
    return _enabled and torch.compiler.is_compiling()


def backend_for(query: Tensor, head_dim: int, masked: bool) -> int | None:
    """The kernel :func:`attention` runs for this call (module docstring), or None where the op
    has none that the stock call would run: a GPU before Hopper, or float32 on a GPU."""
    if not query.is_cuda:
        return CPU_FLASH
    if not _hopper or query.dtype not in (torch.float16, torch.bfloat16):
        return None
    return EFFICIENT if masked and head_dim <= 64 else CUDNN


def _heads(t: Tensor, heads: int) -> Tensor:
    return t.unflatten(-1, (heads, -1)).transpose(1, 2)


def _tokens(t: Tensor) -> Tensor:
    return t.transpose(1, 2).flatten(2)


def _bias(mask: Tensor | None, q: Tensor, k: Tensor) -> Tensor | None:
    """The boolean [queries, keys] mask as the kernels' additive bias, broadcast over rows and heads."""
    if mask is None:
        return None
    bias = torch.zeros(mask.shape, dtype=q.dtype, device=q.device).masked_fill(~mask, float("-inf"))
    return bias.expand(q.shape[0], q.shape[1], q.shape[2], k.shape[2])


def _forward(query: Tensor, key: Tensor, value: Tensor, heads: int, mask: Tensor | None,
             backend: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    q, k, v = (_heads(t, heads) for t in (query, key, value))
    bias = _bias(mask, q, k)
    if backend == CUDNN:
        out, lse, _, _, _, _, seed, offset, _ = _aten._scaled_dot_product_cudnn_attention(q, k, v, bias, True)
        lse = lse.squeeze(-1)  # [B, H, Lq, 1]: saved 4-D, Inductor would lay it out again
    elif backend == EFFICIENT:
        out, lse, seed, offset = _aten._scaled_dot_product_efficient_attention(q, k, v, bias, True)
    else:
        out, lse = _aten._scaled_dot_product_flash_attention_for_cpu(q, k, v, attn_mask=bias)
        seed, offset = query.new_empty(0), query.new_empty(0)
    # the kernels' RNG state (no dropout here) may come as one shared tensor; outputs may not alias
    return _tokens(out), lse, seed.clone(), offset.clone()


def _backward(grad: Tensor, query: Tensor, key: Tensor, value: Tensor, out: Tensor, lse: Tensor, seed: Tensor,
              offset: Tensor, heads: int, mask: Tensor | None, backend: int) -> tuple[Tensor, Tensor, Tensor]:
    g, q, k, v, o = (_heads(t, heads) for t in (grad, query, key, value, out))
    bias = _bias(mask, q, k)
    if backend == CUDNN:
        dq, dk, dv = _aten._scaled_dot_product_cudnn_attention_backward(
            g, q, k, v, o, lse.unsqueeze(-1), seed, offset, bias, None, None, q.shape[2], k.shape[2], 0.0, False)
    elif backend == EFFICIENT:
        dq, dk, dv, _ = _aten._scaled_dot_product_efficient_attention_backward(
            g, q, k, v, bias, o, lse, seed, offset, 0.0, [True, True, True, False])
    else:
        dq, dk, dv = _aten._scaled_dot_product_flash_attention_for_cpu_backward(g, q, k, v, o, lse, 0.0, False,
                                                                                attn_mask=bias)
    return _tokens(dq), _tokens(dk), _tokens(dv)


# the kernels have fake implementations, so the same code gives the ops' output shapes and strides
_attention_op = torch.library.custom_op(
    "aa2::attention", _forward, mutates_args=(),
    schema="(Tensor query, Tensor key, Tensor value, int heads, Tensor? mask, int backend) "
           "-> (Tensor, Tensor, Tensor, Tensor)")
_attention_op.register_fake(_forward)
_backward_op = torch.library.custom_op(
    "aa2::attention_backward", _backward, mutates_args=(),
    schema="(Tensor grad, Tensor query, Tensor key, Tensor value, Tensor out, Tensor lse, Tensor seed, Tensor offset, "
           "int heads, Tensor? mask, int backend) -> (Tensor, Tensor, Tensor)")
_backward_op.register_fake(_backward)


def _setup_context(ctx, inputs, output) -> None:
    query, key, value, heads, mask, backend = inputs
    out, lse, seed, offset = output
    ctx.heads, ctx.backend, ctx.masked = heads, backend, mask is not None
    ctx.save_for_backward(query, key, value, out, lse, seed, offset, *([mask] if mask is not None else []))


def _attention_backward(ctx, grad, *_):
    query, key, value, out, lse, seed, offset, *mask = ctx.saved_tensors
    dq, dk, dv = _backward_op(grad.contiguous(), query, key, value, out, lse, seed, offset, ctx.heads,
                              mask[0] if ctx.masked else None, ctx.backend)
    return dq, dk, dv, None, None, None


_attention_op.register_autograd(_attention_backward, setup_context=_setup_context)


def attention(query: Tensor, key: Tensor, value: Tensor, heads: int, mask: Tensor | None = None) -> Tensor:
    """Softmax attention of [B, Lq, H*D] queries over [B, Lk, H*D] keys and values, ``heads``
    heads, under an optional boolean [Lq, Lk] mask (True: attend) shared by every row and head;
    returns [B, Lq, H*Dv]. The stock arithmetic of ``F.scaled_dot_product_attention``; only where
    :func:`backend_for` has a kernel for the call."""
    backend = backend_for(query, query.shape[-1] // heads, mask is not None)
    if backend is None:
        raise ValueError(f"no attention kernel of the op for {query.dtype} queries on {query.device}; "
                         "call it where model.attention_op.backend_for gives one")
    return _attention_op(query, key, value, heads, mask, backend)[0]
