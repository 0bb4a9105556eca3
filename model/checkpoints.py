"""Strict checks for weights on disk: a missing file or a key mismatch is an error, not a warning.

diffusers and transformers only log missing or unexpected keys and initialise the missing
weights at random; a training run started that way wastes its compute. Every loader of this
package passes through these checks.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

DIFFUSERS_WEIGHTS = ("diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.bin",
                     "diffusion_pytorch_model.safetensors.index.json")
TRANSFORMERS_WEIGHTS = ("model.safetensors", "pytorch_model.bin", "model.safetensors.index.json")


class CheckpointMismatchError(ValueError):
    """Weights on disk do not fit the architecture they are loaded into."""


def require_model_folder(folder: str | Path, weight_names: Iterable[str], config_name: str = "config.json") -> Path:
    """The folder, once it is known to hold a config and one of the weight files."""
    folder = Path(folder)
    config = folder / config_name
    if not config.is_file():
        raise FileNotFoundError(f"missing model config: {config}")
    weight_names = tuple(weight_names)
    if not any((folder / name).is_file() for name in weight_names):
        raise FileNotFoundError(f"missing model weights in {folder}: expected one of {', '.join(weight_names)}")
    return folder


def require_file(path: str | Path) -> Path:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"missing checkpoint: {path}")
    return path


def raise_on_mismatch(source: str | Path, missing: Iterable[str] = (), unexpected: Iterable[str] = (),
                      mismatched: Iterable = (), allowed_missing: tuple[str, ...] = ()) -> None:
    """Raise CheckpointMismatchError naming the source and up to ten offending keys of each kind."""
    missing = sorted(k for k in missing if not (allowed_missing and k.endswith(allowed_missing)))
    problems = {"missing": missing, "unexpected": sorted(unexpected),
                "mismatched shape": [str(m) for m in mismatched]}
    problems = {kind: keys for kind, keys in problems.items() if keys}
    if problems:
        detail = "; ".join(f"{len(keys)} {kind} keys, e.g. {keys[:10]}" for kind, keys in problems.items())
        raise CheckpointMismatchError(f"checkpoint {source} does not match the model: {detail}")


def raise_on_loading_info(source: str | Path, info: dict) -> None:
    """Check the `output_loading_info` dict of diffusers/transformers `from_pretrained`."""
    raise_on_mismatch(source, info.get("missing_keys", ()), info.get("unexpected_keys", ()),
                      info.get("mismatched_keys", ()))
