"""Motion-module (temporal) self-attention that packs short sequences into fuller rows on the GPU.

AnimateDiff's motion modules attend along the frames of each latent pixel: at the latents' full
resolution that is h*w*heads sequences of F = 16 tokens. Fused attention kernels tile 64 queries
or more, so most of each tile is empty and the time goes into the number of tiles, one for every
sequence. :class:`PackedTemporalAttnProcessor` lets ``pack_to // F`` consecutive sequences attend
as one row under a block-diagonal mask (:func:`model.reference.attention_with_reference`): as
many times fewer tiles, the same result up to rounding, and no copy of the tokens (consecutive
sequences of the [B*h*w, F, C] tokens already form one row).

On an H100 (bf16, forward and backward, 16384 x 8 heads of 16 frames, ``aa2 bench-attention``)
one such attention took, one sequence a row against four a row: 6.03 against 1.57 ms at head
size 40 (cuDNN, then the memory-efficient kernel), 8.68 against 4.05 ms at 80 and 16.19 against
8.39 ms at 160 (cuDNN both ways; the memory-efficient kernel's backward is slow at these sizes).
:func:`model.reference.masked_backends` picks the masked kernel by head size. By default every
head size packs (``max_head_dim=160``): the compiled stage-2 training step took 0.3081-0.3089 s
against 0.3111 s packing only heads of up to 64 channels (H100, batch 1, two calls each on one
machine). On the CPU every layer runs as diffusers' ``AttnProcessor2_0``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from diffusers.models.attention_processor import Attention, AttnProcessor2_0

from .reference import attention_with_reference


class PackedTemporalAttnProcessor(AttnProcessor2_0):
    """``AttnProcessor2_0`` that packs ``pack_to // F`` sequences of F tokens a row where that pays
    (module docstring): on CUDA (or anywhere with ``cpu=True``), head size at most
    ``max_head_dim``, a batch that the pack divides, plain self-attention."""

    def __init__(self, pack_to: int = 64, max_head_dim: int = 160, cpu: bool = False) -> None:
        super().__init__()
        self.pack_to, self.max_head_dim, self.cpu = pack_to, max_head_dim, cpu
        self.paused = False  # set by :func:`unpacked`

    def pack(self, attn: Attention, hidden_states: torch.Tensor) -> int:
        """Sequences a row for this call (1: not packed)."""
        if self.paused or hidden_states.ndim != 3 or attn.spatial_norm is not None or attn.group_norm is not None:
            return 1
        batch, tokens = hidden_states.shape[:2]
        pack = self.pack_to // tokens
        fits = pack > 1 and batch % pack == 0 and attn.inner_dim // attn.heads <= self.max_head_dim
        return pack if fits and (hidden_states.is_cuda or self.cpu) else 1

    def __call__(self, attn: Attention, hidden_states: torch.Tensor, encoder_hidden_states=None,
                 attention_mask=None, temb=None, *args, **kwargs) -> torch.Tensor:
        self_attention = encoder_hidden_states is None and attention_mask is None
        pack = self.pack(attn, hidden_states) if self_attention else 1
        if pack == 1:
            return super().__call__(attn, hidden_states, encoder_hidden_states, attention_mask, temb, *args, **kwargs)
        return attention_with_reference(attn, hidden_states, None, pack)


def install_packed_temporal_attention(unet: torch.nn.Module, **options) -> int:
    """:class:`PackedTemporalAttnProcessor` (``options``) on every motion-module attention layer
    of ``unet``; the other layers keep theirs. Returns how many layers it took."""
    processors = unet.attn_processors
    temporal = [name for name in processors if ".motion_modules." in name]
    unet.set_attn_processor({name: PackedTemporalAttnProcessor(**options) if name in temporal else current
                             for name, current in processors.items()})
    return len(temporal)


@contextmanager
def unpacked(module: torch.nn.Module) -> Iterator[int]:
    """Inside, every :class:`PackedTemporalAttnProcessor` in ``module`` runs one sequence a row
    (the same results up to rounding); yields how many there are. For counting the model's FLOPs:
    a packed row's masked products are work the kernel does, not the model's arithmetic (at 4
    sequences a row, 4 times the model's products of those layers)."""
    processors = [layer.processor for layer in module.modules()
                  if isinstance(layer, Attention) and isinstance(layer.processor, PackedTemporalAttnProcessor)]
    for processor in processors:
        processor.paused = True
    try:
        yield len(processors)
    finally:
        for processor in processors:
            processor.paused = False
