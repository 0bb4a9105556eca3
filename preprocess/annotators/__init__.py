"""Annotator backends by role and name, imported lazily (GPU backends pull in heavy packages).

``build_annotator(role, name, config)`` is the only way stages get a backend. To add one, add a
line to ``BACKENDS``: ``(role, name): "module:Class"`` with the module relative to this package.
A backend kept outside this package is named by its import path, ``"package.module:Class"``
(an :class:`Annotator` subclass of the role; every Ray worker must be able to import it).
"""

from __future__ import annotations

import importlib

from .base import ROLES, AnnotationError, Annotator, Clip, Localisation, ObjectTrack, Pose, Segmentation

BACKENDS: dict[tuple[str, str], str] = {
    ("localise", "oracle"): "oracle:OracleLocalise",
    ("segment", "oracle"): "oracle:OracleSegment",
    ("pose", "oracle"): "oracle:OraclePose",
    ("depth", "oracle"): "oracle:OracleDepth",
    ("localise", "lite"): "lite:LiteLocalise",
    ("segment", "lite"): "lite:LiteSegment",
    ("pose", "lite"): "lite:LitePose",
    ("depth", "lite"): "lite:LiteDepth",
    ("localise", "vlm"): "vlm:VlmLocaliser",
    ("localise", "manual"): "vlm:ManualLocaliser",
    ("localise", "grounding_dino"): "grounding:GroundingDinoLocaliser",
    ("localise", "florence2"): "florence:FlorenceLocaliser",
    ("segment", "sam2"): "sam2_video:Sam2Segmenter",
    ("pose", "sapiens"): "sapiens:SapiensPose",
    ("depth", "sapiens"): "sapiens:SapiensDepth",
    ("pose", "sapiens2"): "sapiens2:Sapiens2Pose",
    ("depth", "sapiens2"): "sapiens2:Sapiens2Depth",
}


def backend_names(role: str) -> list[str]:
    return sorted(name for r, name in BACKENDS if r == role)


def build_annotator(role: str, name: str, config: dict | None = None) -> Annotator:
    if role not in ROLES:
        raise ValueError(f"unknown annotator role {role!r}; roles are {ROLES}")
    if (role, name) in BACKENDS:
        module_name, class_name = BACKENDS[(role, name)].split(":")
        cls = getattr(importlib.import_module(f"{__name__}.{module_name}"), class_name)
    elif name.count(":") == 1:
        cls = _import_backend(role, name)
    else:
        raise ValueError(f"no {role} backend named {name!r}; choose one of {backend_names(role)} "
                         "or name one by its import path, package.module:Class")
    return cls(**(config or {}))


def _import_backend(role: str, path: str) -> type[Annotator]:
    module_name, class_name = path.split(":")
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError) as error:
        raise ValueError(f"{role} backend {path!r} cannot be imported: {error}") from error
    if not (isinstance(cls, type) and issubclass(cls, Annotator)) or getattr(cls, "role", None) != role:
        raise ValueError(f"{role} backend {path!r} is not an Annotator subclass whose role is {role!r}")
    return cls


__all__ = [
    "AnnotationError", "Annotator", "BACKENDS", "Clip", "Localisation", "ObjectTrack", "Pose",
    "Segmentation", "backend_names", "build_annotator",
]
