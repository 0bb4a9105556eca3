"""Exponential moving average of the trained weights: diffusers' ``EMAModel``, one pass a step.

``EMAModel.step`` (foreach) updates the shadow weights with two passes over memory and a
temporary as large as the trained weights: ``tmp = shadow - param`` then ``shadow -= (1 - decay)
* tmp``. ``torch._foreach_lerp_`` computes the same ``shadow + (1 - decay) * (param - shadow)`` in
one pass without the temporary. Everything else (decay schedule, warm-up, ``store``/``restore``,
``copy_to``, the checkpointed state dict) is ``EMAModel``'s own, so checkpoints load either way.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from diffusers.training_utils import EMAModel


class LerpEMAModel(EMAModel):
    """``EMAModel`` whose ``step`` is a single fused lerp over the trained weights."""

    @torch.no_grad()
    def step(self, parameters: Iterable[torch.nn.Parameter]) -> None:
        parameters = list(parameters)
        self.optimization_step += 1
        decay = self.get_decay(self.optimization_step)
        self.cur_decay_value = decay
        trained = [(s, p) for s, p in zip(self.shadow_params, parameters) if p.requires_grad]
        frozen = [(s, p) for s, p in zip(self.shadow_params, parameters) if not p.requires_grad]
        if trained:
            shadow, params = zip(*trained)
            torch._foreach_lerp_(list(shadow), list(params), 1.0 - decay)
        if frozen:
            shadow, params = zip(*frozen)
            torch._foreach_copy_(list(shadow), list(params))
