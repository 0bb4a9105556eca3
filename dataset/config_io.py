"""Nested config dataclasses <-> YAML and ``a.b.c=value`` command-line overrides.

Shared by the preprocessing job and the trainer. Every config in this project is a dataclass that validates itself in ``__post_init__``. This
module builds them from plain dicts (YAML files, dotted overrides) and back, and fails at start
with the dotted name of an unknown or ill-typed key, so a typo never silently trains the wrong
thing.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml

T = TypeVar("T")


def _is_dataclass_type(tp) -> bool:
    return isinstance(tp, type) and dataclasses.is_dataclass(tp)


def _strip_optional(tp):
    """``X | None`` -> (X, True); anything else -> (tp, False)."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1 and len(typing.get_args(tp)) == 2:
            return args[0], True
    return tp, False


def _coerce(value: Any, tp, where: str):
    tp, optional = _strip_optional(tp)
    if value is None:
        if optional:
            return None
        raise ValueError(f"{where}: null is not allowed here")
    if _is_dataclass_type(tp):
        if not isinstance(value, dict):
            raise ValueError(f"{where}: expected a mapping of {tp.__name__} fields, got {value!r}")
        return from_dict(tp, value, prefix=f"{where}.")
    if tp is str and isinstance(value, bool):
        raise ValueError(f"{where}: expected a string, got {value!r} (YAML reads no/yes/on/off as booleans: quote it)")
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if tp in (int, float, str, bool) and not isinstance(value, tp) or (tp is int and isinstance(value, bool)):
        raise ValueError(f"{where}: expected {tp.__name__}, got {value!r}")
    origin = typing.get_origin(tp)
    if origin in (tuple, list) and isinstance(value, (list, tuple)):
        return origin(value)
    return value


def from_dict(cls: type[T], data: dict, prefix: str = "") -> T:
    """Build dataclass ``cls`` from a nested dict; unknown keys raise ValueError naming them."""
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(f"unknown config key(s) {[prefix + k for k in unknown]}; valid keys here: {sorted(known)}")
    kwargs = {k: _coerce(v, hints[k], prefix + k) for k, v in data.items()}
    return cls(**kwargs)


def to_dict(config) -> dict:
    return dataclasses.asdict(config)


# YAML 1.1 reads these as booleans; on a command line they are meant as words (mixed_precision=no).
_YAML11_WORDS = {"yes", "no", "on", "off", "y", "n"}


def apply_overrides(data: dict, overrides: list[str]) -> dict:
    """``["optim.lr=1e-4", "data.num_frames=8"]`` applied to a nested dict (values parsed as YAML)."""
    for item in overrides:
        if "=" not in item:
            raise ValueError(f"override {item!r} must look like section.key=value")
        dotted, raw = item.split("=", 1)
        *parents, leaf = dotted.strip().split(".")
        node = data
        for part in parents:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ValueError(f"override {item!r}: {part} is not a section")
        node[leaf] = raw.strip() if raw.strip().lower() in _YAML11_WORDS else yaml.safe_load(raw)
    return data


def merge(base: dict, update: dict) -> dict:
    out = dict(base)
    for key, value in update.items():
        out[key] = merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def load_config(cls: type[T], base: T | dict | None = None, path: str | Path | None = None,
                overrides: list[str] | None = None) -> T:
    """``base`` (a recipe: a config or a nested dict) updated by a YAML file, then by dotted
    overrides, then validated."""
    if base is None:
        data = {}
    else:
        data = merge({}, base) if isinstance(base, dict) else to_dict(base)
    if path is not None:
        loaded = yaml.safe_load(Path(path).read_text()) or {}
        if not isinstance(loaded, dict):
            raise ValueError(f"{path}: a config file must hold a mapping")
        data = merge(data, loaded)
    data = apply_overrides(data, list(overrides or []))
    return from_dict(cls, data)


def save_config(config, path: str | Path) -> None:
    Path(path).write_text(yaml.safe_dump(to_dict(config), sort_keys=False))
