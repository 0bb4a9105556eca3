"""Frozen layers that compute from weights cast once, under bf16 or fp16 mixed precision.

Under autocast a Linear layer or a convolution casts its float32 weight and bias to the compute
dtype on every call. The weights of frozen layers never change, so that cast is the same work
each step: in a stage-2 step, where the whole network but its temporal layers is frozen (about
1.7 billion parameters of the SD 1.5 layout), it is about 650 of the forward's 960 cast kernels.

:func:`attach_low_precision_copies` gives each ``nn.Linear`` and ``nn.Conv1d/2d/3d`` of a model
whose parameters are all frozen a copy of its weight and bias in the compute dtype, held as
non-persistent buffers, and a forward that computes from the copy while autocast to that dtype is
on (from the float32 parameters otherwise). The float32 parameters stay as they are: checkpoints
and exports hold them and not the copies, and results are those of autocast, which rounds the
weights to the same values on each call. The copies cost 2 bytes per frozen parameter of device
memory (3.2 GiB in stage 2).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.parallel import DistributedDataParallel

WEIGHT, BIAS = "weight_compute_copy", "bias_compute_copy"


class _ComputeCopyForward:
    """Mixed into a layer class: the forward that reads the copies under autocast of their dtype."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        copy = getattr(self, WEIGHT)
        device = x.device.type
        if torch.is_autocast_enabled(device) and torch.get_autocast_dtype(device) == copy.dtype:
            weight, bias = copy, getattr(self, BIAS)
        else:
            weight, bias = self.weight, self.bias
        if isinstance(self, nn.Linear):
            return F.linear(x, weight, bias)
        return self._conv_forward(x, weight, bias)


class ComputeCopyLinear(_ComputeCopyForward, nn.Linear):
    pass


class ComputeCopyConv1d(_ComputeCopyForward, nn.Conv1d):
    pass


class ComputeCopyConv2d(_ComputeCopyForward, nn.Conv2d):
    pass


class ComputeCopyConv3d(_ComputeCopyForward, nn.Conv3d):
    pass


LAYERS = {nn.Linear: ComputeCopyLinear, nn.Conv1d: ComputeCopyConv1d, nn.Conv2d: ComputeCopyConv2d,
          nn.Conv3d: ComputeCopyConv3d}


def attach_low_precision_copies(model: nn.Module, dtype: torch.dtype, channels_last: bool = False) -> list[str]:
    """Give every frozen Linear and convolution of ``model`` (exactly those classes, not
    subclasses with forwards of their own) copies of its weight and bias in ``dtype``; in place.
    ``channels_last`` lays out the 2D convolutions' copies in channels-last memory format (the
    layout Inductor's ``force_layout_optimization`` runs them in). Returns the copies' buffer
    names, which ``DistributedDataParallel`` is told to leave alone: each process makes its own
    (:func:`refresh_low_precision_copies` after the weights are broadcast), and DDP would
    otherwise broadcast them before every forward."""
    names = []
    for name, layer in model.named_modules():
        layer_class = LAYERS.get(type(layer))
        if layer_class is None or any(p.requires_grad for p in layer.parameters()):
            continue
        weight = layer.weight.detach().to(dtype)
        if channels_last and weight.ndim == 4:
            weight = weight.contiguous(memory_format=torch.channels_last)
        bias = None if layer.bias is None else layer.bias.detach().to(dtype)
        layer.__class__ = layer_class
        layer.register_buffer(WEIGHT, weight, persistent=False)
        layer.register_buffer(BIAS, bias, persistent=False)
        prefix = f"{name}." if name else ""
        names += [prefix + WEIGHT] + ([prefix + BIAS] if bias is not None else [])
    ignored = list(getattr(model, "_ddp_params_and_buffers_to_ignore", []))
    DistributedDataParallel._set_params_and_buffers_to_ignore_for_model(model, ignored + names)
    return names


@torch.no_grad()
def refresh_low_precision_copies(model: nn.Module) -> int:
    """Copy the float32 weights into their copies again (after weights are loaded or broadcast);
    returns the number of layers refreshed."""
    layers = [m for m in model.modules() if isinstance(m, _ComputeCopyForward)]
    for layer in layers:
        getattr(layer, WEIGHT).copy_(layer.weight)
        if layer.bias is not None:
            getattr(layer, BIAS).copy_(layer.bias)
    return len(layers)
