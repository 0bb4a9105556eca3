"""Load Sapiens weights: official ``.pth`` checkpoints into our own modules, or Sapiens-Lite TorchScript.

The original checkpoints are mmengine checkpoints: ``{"meta": ..., "state_dict": ...}`` where
``meta`` (and sometimes ``message_hub``) hold pickled mmengine objects. Loading them with
``torch.load(weights_only=True)`` fails on those classes and a plain ``torch.load`` would import
(and run) mmengine. A restricted unpickler instead builds only tensors and plain containers and
turns every other class into an inert placeholder, so no foreign code runs and mmengine is not
needed. Architecture and head widths are read from the weights' shapes.
"""

from __future__ import annotations

import logging
import pickle
import types
from pathlib import Path

import torch
from torch import nn

from .sapiens_vit import ARCHS, SapiensArch, build_sapiens

log = logging.getLogger(__name__)

_NUMPY_OK = {
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"), ("numpy", "dtype"),
}  # fmt: skip


class Opaque:
    """Stands in for any class the restricted unpickler will not import; keeps nothing."""

    def __new__(cls, *args, **kwargs):
        return object.__new__(cls)

    def __init__(self, *args, **kwargs):
        pass

    def __setstate__(self, state):
        pass


def _restricted_unpickler_module() -> types.ModuleType:
    allowed = torch._weights_only_unpickler._get_allowed_globals()

    class RestrictedUnpickler(pickle.Unpickler):
        def find_class(self, module: str, name: str):
            if f"{module}.{name}" in allowed or (module, name) in _NUMPY_OK:
                return super().find_class(module, name)
            if module == "builtins" and name in {"set", "frozenset", "slice", "complex", "bytearray"}:
                return super().find_class(module, name)
            return type(name, (Opaque,), {"__module__": f"opaque.{module}"})

    module = types.ModuleType("restricted_pickle")
    module.Unpickler = RestrictedUnpickler
    module.load = pickle.load
    module.__name__ = "restricted_pickle"
    return module


def load_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Tensors of a Sapiens ``.pth`` (mmengine or plain), keys without a ``module.`` prefix."""
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        obj = torch.load(path, map_location="cpu", weights_only=False, pickle_module=_restricted_unpickler_module())
    state = obj.get("state_dict", obj) if isinstance(obj, dict) else None
    if not isinstance(state, dict) or not any(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"{path}: no state_dict of tensors inside")
    return {k.removeprefix("module."): v for k, v in state.items() if isinstance(v, torch.Tensor)}


def infer_arch(state: dict[str, torch.Tensor], num_heads: int | None = None) -> SapiensArch:
    """Embedding width, depth and MLP width from the weights; heads from the official table."""
    dim = state["backbone.pos_embed"].shape[-1]
    layers = 1 + max(int(k.split(".")[2]) for k in state if k.startswith("backbone.layers."))
    ffn = state["backbone.layers.0.ffn.layers.0.0.weight"].shape[0]
    if num_heads is None:
        known = [a for a in ARCHS.values() if a.embed_dim == dim]
        if not known:
            raise ValueError(f"embedding width {dim} is not a Sapiens size; give num_heads in the config")
        num_heads = known[0].num_heads
    return SapiensArch(dim, layers, num_heads, ffn)


def _head_widths(state: dict[str, torch.Tensor], prefix: str) -> tuple[tuple[int, ...], tuple[int, ...]]:
    def widths(part: str) -> tuple[int, ...]:
        keys = sorted((int(k.split(".")[2]), k) for k in state if k.startswith(f"{prefix}.{part}.") and k.endswith("weight"))
        dim = 1 if part == "deconv_layers" else 0  # ConvTranspose2d weights are [in, out, k, k]
        return tuple(int(state[k].shape[dim]) for _, k in keys)

    return widths("deconv_layers"), widths("conv_layers")


def build_from_checkpoint(path: str | Path, task: str, image_hw=(1024, 768), num_heads: int | None = None) -> nn.Module:
    """Our Sapiens module for ``task`` ('pose' or 'depth') with the checkpoint's weights, loaded strictly."""
    state = load_state_dict(path)
    arch = infer_arch(state, num_heads)
    prefix = "head" if task == "pose" else "decode_head"
    deconv, conv = _head_widths(state, prefix)
    keypoints = int(state["head.final_layer.weight"].shape[0]) if task == "pose" else 0
    model = build_sapiens(task, arch, image_hw, keypoints, deconv, conv)
    _fit_pos_embed(state, model.backbone.pos_embed, model.backbone.grid)
    model.load_state_dict(state, strict=True)
    log.info("Sapiens %s from %s: %d layers x %d, %s", task, path, arch.num_layers, arch.embed_dim, (deconv, conv))
    return model.eval()


def _fit_pos_embed(state: dict, target: torch.Tensor, grid: tuple[int, int]) -> None:
    """Resize a checkpoint's square position grid (pretraining size) to this model's grid."""
    pos = state["backbone.pos_embed"]
    if pos.shape == target.shape:
        return
    side = int(round(pos.shape[1] ** 0.5))
    if side * side != pos.shape[1]:
        raise ValueError(f"pos_embed {tuple(pos.shape)} does not fit a {grid} grid")
    square = pos.reshape(1, side, side, -1).permute(0, 3, 1, 2).float()
    resized = torch.nn.functional.interpolate(square, size=grid, mode="bicubic", align_corners=False)
    state["backbone.pos_embed"] = resized.flatten(2).transpose(1, 2).to(pos.dtype)


def load_torchscript(path: str | Path, device: torch.device) -> torch.jit.ScriptModule:
    """A Sapiens-Lite TorchScript export (fixed input size, float32)."""
    return torch.jit.load(str(path), map_location=device).eval()
