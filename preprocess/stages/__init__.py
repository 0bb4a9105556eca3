"""Pipeline stages. Each is a small class: typed config in ``__init__``, ``setup()`` on the
worker, ``__call__(rows) -> rows`` over lists of :mod:`preprocess.rows` dicts, runnable without
Ray; :mod:`preprocess.ray_adapter` maps them over a Ray Dataset."""

from .annotate import AnnotateStage
from .clips import ClipStage
from .localise import LocaliseStage
from .probe import ProbeStage
from .qualify import QualifyStage

STAGES = (ProbeStage, ClipStage, LocaliseStage, AnnotateStage, QualifyStage)

__all__ = ["AnnotateStage", "ClipStage", "LocaliseStage", "ProbeStage", "QualifyStage", "STAGES"]
