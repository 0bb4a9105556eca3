"""Localise stage: the localise backend on its own, before annotate (``annotate.localise_concurrency``).

A localise model such as a 7B VLM holds about 16 GiB; inside every annotate actor each actor needs
its own copy, and it sees only that actor's clips per call. As a stage of its own, a few actors
serve every annotate actor and batch the keyframes of ``annotate.localise_batch_size`` clips per
call. Each clip's boxes go on its row as JSON (``localisation``); a clip the backend cannot
localise ends here with the backend's reason, like any failed annotation. Rows carry the clip as
mp4 bytes, not frames, so this stage decodes each clip and annotate decodes it again: a CPU cost
paid to hold one localise model per GPU instead of one per annotate actor.
"""

from __future__ import annotations

import time

from ..annotators import AnnotationError, build_annotator
from ..annotators.base import localisation_to_json
from ..config import AnnotateConfig
from ..rows import FAILED, fail
from .annotate import decode_rows, run_backend


class LocaliseStage:
    name = "localise"

    def __init__(self, config: AnnotateConfig):
        self.config = config
        self.annotator = None

    def setup(self) -> None:
        self.annotator = build_annotator("localise", self.config.localise, self.config.backend_config.get("localise"))
        self.annotator.setup()

    def __call__(self, rows: list[dict]) -> list[dict]:
        if self.annotator is None:
            self.setup()
        start = time.perf_counter()
        out, todo, clips = decode_rows(rows)
        results = run_backend(self.annotator, clips, {}) if clips else []
        seconds = (time.perf_counter() - start) / max(1, len(todo))
        for i, result in zip(todo, results):
            if isinstance(result, AnnotationError):
                out[i] = fail(rows[i], FAILED, result.reason, result.detail)
            else:
                out[i] = {**rows[i], "localisation": localisation_to_json(result)}
            out[i] = {**out[i], "t_localise": seconds}
        return out
