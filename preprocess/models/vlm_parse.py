"""Turn a vision-language model's grounding answer into validated boxes in frame pixels.

Models answer in their own dialect and rarely cleanly: JSON inside a code fence, followed by
prose, cut off by the token limit, or not JSON at all. :func:`extract_objects` recovers every
complete ``{...}`` object it can and ignores the rest; a garbage answer yields an empty list.
Coordinate conventions, one per model family:

==============  =========================================================================
``qwen2_5_vl``  absolute pixels of the image *as resized for the model* -> rescaled to the frame
``qwen3_vl``    0..1000 relative to the image
``florence2``   ``<loc_N>`` tokens, 1000 bins per axis, a bin standing for its centre
==============  =========================================================================
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from .boxes import Box, bins_to_pixels, relative_to_pixels, rescale_box, validate_box

CONVENTIONS = ("qwen2_5_vl", "qwen3_vl", "florence2")
PERSON_WORDS = {"person", "man", "woman", "boy", "girl", "child", "kid", "human", "people", "dancer", "player"}
_FENCE = re.compile(r"```(?:json|JSON)?\s*(.*?)(?:```|$)", re.S)
_FLORENCE = re.compile(r"([^<>]+)((?:<loc_\d+>)+)")  # a name, then the boxes of that name (4 locations each)
_LOC = re.compile(r"<loc_(\d+)>")


@dataclass(frozen=True)
class Detection:
    label: str
    box: Box  # frame pixels, validated


def _balanced_objects(text: str) -> list[str]:
    """Every top-level ``{...}`` span whose braces close, skipping braces inside strings."""
    spans, depth, start, in_str, escaped = [], 0, -1, False, False
    for i, ch in enumerate(text):
        if in_str:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_str = False
            continue
        if ch == '"':
            in_str = True
        elif ch == "{":
            start = i if depth == 0 else start
            depth += 1
        elif ch == "}" and depth > 0:
            depth -= 1
            if depth == 0:
                spans.append(text[start : i + 1])
    return spans


def extract_objects(text: str) -> list[dict]:
    """JSON objects in a model answer: the whole list if it parses, else each complete object."""
    fenced = _FENCE.search(text)
    body = fenced.group(1) if fenced else text
    first, last = body.find("["), body.rfind("]")
    if 0 <= first < last:
        try:
            data = json.loads(body[first : last + 1])
            if isinstance(data, list) and (not data or any(isinstance(d, dict) for d in data)):
                return [d for d in data if isinstance(d, dict)]
        except json.JSONDecodeError:
            pass
    objects = []
    for span in _balanced_objects(body):
        try:
            data = json.loads(span)
        except json.JSONDecodeError:
            continue
        if isinstance(data, dict):
            objects.append(data)
    return objects


def _box_of(obj: dict):
    for key in ("bbox_2d", "bbox", "box"):
        if key in obj:
            return obj[key]
    return None


def parse_grounding(text: str, convention: str, frame_hw: tuple[int, int], model_hw: tuple[int, int] | None = None) -> list[Detection]:
    """Detections in frame pixels from a Qwen-style JSON answer or a Florence-2 ``<loc_N>`` answer."""
    if convention not in CONVENTIONS:
        raise ValueError(f"unknown box convention {convention!r}; expected one of {CONVENTIONS}")
    if convention == "florence2":
        return _parse_florence(text, frame_hw)
    if convention == "qwen2_5_vl" and model_hw is None:
        raise ValueError("qwen2_5_vl boxes are in pixels of the model input: its size is needed")
    found = []
    for obj in extract_objects(text):
        raw, label = _box_of(obj), str(obj.get("label", obj.get("name", ""))).strip().lower()
        if not isinstance(raw, (list, tuple)) or len(raw) != 4 or not label:
            continue
        try:
            box = rescale_box(tuple(float(v) for v in raw), model_hw, frame_hw) if convention == "qwen2_5_vl" else relative_to_pixels(raw, frame_hw, 1000)
        except (TypeError, ValueError):
            continue
        valid = validate_box(box, frame_hw)
        if valid is not None:
            found.append(Detection(label, valid))
    return found


def _parse_florence(text: str, frame_hw: tuple[int, int]) -> list[Detection]:
    """Florence-2 names a category once before all its boxes (``wheel<4 locs><4 locs>``); location
    tokens that follow no name (a garbage answer) and an incomplete last group are dropped."""
    found = []
    for label, locs in _FLORENCE.findall(re.sub(r"</?s>|<pad>", "", text)):
        clean, bins = label.strip().lower(), [int(v) for v in _LOC.findall(locs)]
        for i in range(0, len(bins) - 3, 4):
            valid = validate_box(bins_to_pixels(bins[i : i + 4], frame_hw, 1000), frame_hw)
            if valid is not None and clean:
                found.append(Detection(clean, valid))
    return found


def split_person(detections: list[Detection]) -> tuple[Box | None, list[Detection]]:
    """The largest person-labelled box, and the non-person detections (the interacting objects)."""
    people = [d for d in detections if d.label in PERSON_WORDS]
    objects = [d for d in detections if d.label not in PERSON_WORDS]
    if not people:
        return None, objects
    main = max(people, key=lambda d: (d.box[2] - d.box[0]) * (d.box[3] - d.box[1]))
    return main.box, objects
