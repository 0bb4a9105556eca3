"""Localise backend with Florence-2: object detection (``<OD>``) plus the contact rule.

Florence-2 names and boxes every object it sees (:mod:`preprocess.models.florence` says why this
task); the largest person-named box is the person, and an object counts as interacting when
enough of it lies on or next to that box (:func:`preprocess.models.boxes.touches`), as in the
Grounding DINO backend. Detection names the parts and clothes of a person too ("human face",
"footwear"); those always lie on the person, so they are dropped (``ignore_labels``).
Keyframes of all clips in a call go to the model in batches of ``batch_size``; keyframes, label
tracks and the manual boxes override are those of the VLM backend.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .grounding import DetectorLocaliser

FETCH = ("a transformers-native Florence-2 folder (e.g. florence-community/Florence-2-large from https://huggingface.co; "
         "microsoft/Florence-2-large is the remote-code release and does not load)")
BODY = ["face", "head", "hair", "beard", "eye", "ear", "nose", "mouth", "hand", "arm", "leg", "foot", "body",
        "clothing", "footwear", "shoe", "boot", "sock", "shirt", "jacket", "coat", "dress", "skirt", "jeans",
        "trousers", "shorts", "sleeve", "glove"]  # fmt: skip


@dataclass
class FlorenceConfig:
    model: str = ""  # local transformers Florence-2 folder
    ignore_labels: list[str] = field(default_factory=lambda: list(BODY))  # also matched after a "human " prefix
    contact_margin: float = 0.1  # person box grown by this share of its size on each side
    min_inside: float = 0.3  # share of an object's area that must lie in the grown person box
    manual_boxes: str | None = None
    num_keyframes: int = 3
    batch_size: int = 8  # images per generate() call
    max_new_tokens: int = 512  # about 8 tokens per box: a cut-off answer keeps its complete boxes
    num_beams: int = 3  # the decoding of the published detection results
    device: str = "auto"
    dtype: str = "bfloat16"
    num_gpus: float = 0.0

    def __post_init__(self) -> None:
        self.ignore_labels = [lab.strip().lower() for lab in self.ignore_labels]
        if not 0 < self.min_inside <= 1 or self.contact_margin < 0:
            raise ValueError("min_inside must lie in (0, 1] and contact_margin be >= 0")
        if min(self.num_keyframes, self.batch_size, self.max_new_tokens, self.num_beams) < 1:
            raise ValueError("num_keyframes, batch_size, max_new_tokens and num_beams must be >= 1")


class FlorenceLocaliser(DetectorLocaliser):
    role, name, version = "localise", "florence2", "1"

    def __init__(self, **config):
        from preprocess.models.florence import check_native_format

        folder = self._open(FlorenceConfig(**config), "Florence-2", FETCH)
        check_native_format(folder, FETCH)

    def setup(self) -> None:
        from preprocess.models.florence import FlorenceDetector

        c = self.config
        self.model = self._on_device("florence2", lambda device, dtype: FlorenceDetector(
            c.model, device, dtype, c.max_new_tokens, c.num_beams))

    def detect(self, images: list) -> list[list]:
        return self.model.detect(images)

    def keep(self, label: str) -> bool:
        return label not in self.config.ignore_labels and label.removeprefix("human ") not in self.config.ignore_labels
