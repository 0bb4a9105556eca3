"""Preprocessing: a crawl of videos -> annotated clips in schema-v1 shards, on Ray Data.

``run_preprocess(input, output, config=None, engine="ray") -> summary dict`` is the entry point;
imported lazily so ``import preprocess.annotators`` stays light.
"""

from __future__ import annotations


def __getattr__(name: str):
    if name == "run_preprocess":
        from .pipeline import run_preprocess

        return run_preprocess
    if name == "PreprocessConfig":
        from .config import PreprocessConfig

        return PreprocessConfig
    raise AttributeError(name)


__all__ = ["PreprocessConfig", "run_preprocess"]
