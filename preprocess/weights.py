"""The weights file: where each production annotator model lives on local disk, and which variant.

Nothing is downloaded: every path is checked when its backend is built, and a missing one fails
then, naming what to fetch. Relative paths resolve against the weights file's own folder, so a
weights folder can be moved as a whole. :meth:`Weights.backend_kwargs` turns the file into the
keyword arguments of a backend (``annotate.backend_config[role]``). Example:
``preprocess/weights.example.yaml``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import yaml

VLM_FAMILIES = ("qwen2_5_vl", "qwen3_vl")
KEYPOINT_FORMATS = ("goliath_308", "coco_wholebody_133", "coco_17")


@dataclass
class VlmWeights:
    path: str = ""
    """Folder of a transformers VLM (config.json, safetensors, processor and tokenizer files)."""
    family: str = "qwen2_5_vl"
    """qwen2_5_vl (boxes in resized-input pixels) or qwen3_vl (boxes on a 0..1000 grid)."""

    def __post_init__(self) -> None:
        if self.family not in VLM_FAMILIES:
            raise ValueError(f"vlm.family must be one of {VLM_FAMILIES}, got {self.family!r}")


@dataclass
class GroundingWeights:
    path: str = ""
    """Folder of a transformers Grounding DINO model (the detector alternative to the VLM)."""
    labels: list[str] | None = None
    """Vocabulary to detect; None keeps the backend's default list."""


@dataclass
class FlorenceWeights:
    path: str = ""
    """Folder of a transformers-native Florence-2 model (florence-community/..., not the remote-code release)."""


@dataclass
class Sam2Weights:
    checkpoint: str = ""
    """SAM2.1 checkpoint file ({"model": state_dict}), e.g. sam2.1_hiera_base_plus.pt."""
    config: str = "configs/sam2.1/sam2.1_hiera_b+.yaml"
    """Model config packaged with sam2 that matches the checkpoint."""


@dataclass
class SapiensWeights:
    checkpoint: str = ""
    """Original .pth or Sapiens-Lite *_torchscript.pt2."""
    format: str = "goliath_308"
    """Keypoint format the pose checkpoint predicts (ignored for depth)."""

    def __post_init__(self) -> None:
        if self.format not in KEYPOINT_FORMATS:
            raise ValueError(f"format must be one of {KEYPOINT_FORMATS}, got {self.format!r}")


@dataclass
class Sapiens2Weights:
    model: str = ""
    """Folder of a transformers Sapiens2 model (pose, or pointmap for depth)."""
    format: str = "goliath_308"

    def __post_init__(self) -> None:
        if self.format not in KEYPOINT_FORMATS:
            raise ValueError(f"format must be one of {KEYPOINT_FORMATS}, got {self.format!r}")


@dataclass
class Weights:
    vlm: VlmWeights = field(default_factory=VlmWeights)
    grounding_dino: GroundingWeights = field(default_factory=GroundingWeights)
    florence2: FlorenceWeights = field(default_factory=FlorenceWeights)
    manual_boxes: str | None = None
    """JSON file of hand-made boxes that override the VLM for the videos it covers."""
    sam2: Sam2Weights = field(default_factory=Sam2Weights)
    sapiens_pose: SapiensWeights = field(default_factory=SapiensWeights)
    sapiens_depth: SapiensWeights = field(default_factory=SapiensWeights)
    sapiens2_pose: Sapiens2Weights = field(default_factory=Sapiens2Weights)
    sapiens2_depth: Sapiens2Weights = field(default_factory=Sapiens2Weights)

    def backend_kwargs(self, role: str, backend: str) -> dict:
        """Keyword arguments for ``build_annotator(role, backend, ...)``; {} for backends without weights."""
        table = {
            ("localise", "vlm"): lambda: {"model": self.vlm.path, "family": self.vlm.family, "manual_boxes": self.manual_boxes},
            ("localise", "manual"): lambda: {"boxes": self.manual_boxes or ""},
            ("localise", "grounding_dino"): lambda: {"model": self.grounding_dino.path, "manual_boxes": self.manual_boxes,
                                                     **({"labels": self.grounding_dino.labels} if self.grounding_dino.labels else {})},
            ("localise", "florence2"): lambda: {"model": self.florence2.path, "manual_boxes": self.manual_boxes},
            ("segment", "sam2"): lambda: {"checkpoint": self.sam2.checkpoint, "config": self.sam2.config},
            ("pose", "sapiens"): lambda: {"checkpoint": self.sapiens_pose.checkpoint, "format": self.sapiens_pose.format},
            ("depth", "sapiens"): lambda: {"checkpoint": self.sapiens_depth.checkpoint},
            ("pose", "sapiens2"): lambda: {"model": self.sapiens2_pose.model, "format": self.sapiens2_pose.format},
            ("depth", "sapiens2"): lambda: {"model": self.sapiens2_depth.model},
        }
        return table[(role, backend)]() if (role, backend) in table else {}


_PATH_FIELDS = {"path", "checkpoint", "model", "manual_boxes"}


def _build(cls, data: dict, base: Path, where: str):
    if not isinstance(data, dict):
        raise ValueError(f"{where or 'weights file'}: expected a mapping, got {type(data).__name__}")
    known = {f.name: f for f in dataclasses.fields(cls)}
    unknown = set(data) - set(known)
    if unknown:
        raise ValueError(f"{where or 'weights file'}: unknown keys {sorted(unknown)}; known: {sorted(known)}")
    nested = {f.name: f.default_factory for f in known.values() if dataclasses.is_dataclass(f.default_factory)}
    values = {}
    for name, value in data.items():
        if name in nested:
            values[name] = _build(nested[name], value or {}, base, f"{where}{name}.")
        elif name in _PATH_FIELDS and value:
            values[name] = str(base / Path(value).expanduser())
        else:
            values[name] = value
    return cls(**values)


def load_weights(path: str | Path) -> Weights:
    """Parse and validate a weights YAML file (paths are not required to exist yet)."""
    path = Path(path)
    return _build(Weights, yaml.safe_load(path.read_text()) or {}, path.parent.resolve(), "")
