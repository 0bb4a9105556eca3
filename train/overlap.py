"""The next micro-batch's conditioning, run while the current step runs (``model.overlap_conditioning``).

A stage-2 step spends about a third of its GPU time in the frozen VAE encoder, whose work does
not depend on the step before it. With the loader one batch ahead, :class:`ConditioningAhead`
moves the next batch to the GPU and encodes it on a second CUDA stream, launched after the
current step's forward, so the encoder's kernels can fill what the backward's kernels leave idle
(and the other way round). On the CPU the same work runs in the same order, without a second
stream: results are those of the serial step either way.

:func:`lookahead` yields each batch with the one after it and the loader's position *before*
the batch fetched ahead: a checkpoint saves that position, so a resumed run yields the
prefetched batch again instead of skipping it.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Callable, Iterator

import torch

from dataset.batch import AA2Batch

from .conditioning import ModelInputs


def lookahead(loader, ahead: bool) -> Iterator[tuple[Any, Any, dict]]:
    """One epoch of ``loader`` as (batch, the next batch or None, the loader's position after batch).

    Without ``ahead`` the next batch is always None and nothing is fetched early. The last batch
    of an epoch has no next one (the next epoch starts with a fresh iterator)."""
    batches = iter(loader)
    current = next(batches, None)
    while current is not None:
        position = loader.state_dict()
        following = next(batches, None) if ahead else None
        yield current, following, position
        current = following if ahead else next(batches, None)


def _cuda_tensors(*parts) -> Iterator[torch.Tensor]:
    for part in parts:
        for field in fields(part):
            value = getattr(part, field.name)
            if isinstance(value, torch.Tensor) and value.is_cuda:
                yield value


@dataclass
class Prepared:
    source: Any  # the loader's batch (host memory) it was made from
    batch: AA2Batch  # on the device, unpacked
    inputs: ModelInputs
    ready: torch.cuda.Event | None  # recorded on the side stream after the last kernel


class ConditioningAhead:
    """Holds at most one prepared micro-batch.

    ``build(host_batch, index)`` returns (the batch on the device, its :class:`ModelInputs`);
    ``index`` is the micro-batch index whose random draws the conditioning takes.
    """

    def __init__(self, device: torch.device, build: Callable[[Any, int], tuple[AA2Batch, ModelInputs]]):
        self.build = build
        self.stream = torch.cuda.Stream(device) if device.type == "cuda" else None
        self.pending: Prepared | None = None

    def prepare(self, source, index: int) -> None:
        """Launch the move and conditioning of ``source`` (on the side stream where there is one)."""
        if self.stream is None:
            self.pending = Prepared(source, *self.build(source, index), None)
            return
        # no wait for the main stream: the encoder reads only its frozen weights and this batch
        with torch.cuda.stream(self.stream):
            batch, inputs = self.build(source, index)
            ready = torch.cuda.Event()
            ready.record(self.stream)
        self.pending = Prepared(source, batch, inputs, ready)

    def take(self, source) -> tuple[AA2Batch, ModelInputs] | None:
        """The prepared batch and inputs if ``source`` is the batch prepared, else None (and the
        prepared one, if any, is dropped). The current stream waits for the side stream's work,
        and the caching allocator is told that the current stream uses its tensors, so their
        memory is not reused by the side stream before the current stream is done with them."""
        pending, self.pending = self.pending, None
        if pending is None or pending.source is not source:
            return None
        if pending.ready is not None:
            current = torch.cuda.current_stream(self.stream.device)
            current.wait_event(pending.ready)
            for tensor in _cuda_tensors(pending.batch, pending.inputs):
                tensor.record_stream(current)
        return pending.batch, pending.inputs

    def clear(self) -> None:
        self.pending = None
