"""Annotate stage: the four roles (localise, segment, pose, depth) on a batch of clips.

Backends come from :func:`preprocess.annotators.build_annotator`, one per role, built in
``setup()`` (once per actor, where weights load). Calls follow the roles' order and each later
role receives the earlier results as keywords::

    localise(clips)
    segment(clips, localisations=...)
    pose(clips, localisations=..., segmentations=...)
    depth(clips, localisations=..., segmentations=..., poses=...)

A backend that raises :class:`AnnotationError` for a batch is retried clip by clip, so one bad
clip fails alone. The output row carries the encoded schema-v1 members (mask/pose/depth npz and
json); the mp4 stays the bytes the clip stage made. Where localisation ran as its own stage
(:mod:`preprocess.stages.localise`), the boxes come from the row instead of a localise call.
"""

from __future__ import annotations

import json
import time

import av
import numpy as np

from dataset.schema import ClipMeta, ClipSample, encode_sample
from dataset.video import decode_mp4

from ..annotators import AnnotationError, Clip, build_annotator
from ..annotators.base import ROLES, localisation_from_json
from ..config import AnnotateConfig
from ..rows import FAILED, OK, fail
from ..timeline import nearest_resize, output_size, rotation_turns

EARLIER = {"localise": (), "segment": ("localisations",), "pose": ("localisations", "segmentations"),
           "depth": ("localisations", "segmentations", "poses")}
RESULT_NAME = {"localise": "localisations", "segment": "segmentations", "pose": "poses", "depth": "depths"}


def clip_from_row(row: dict) -> Clip:
    frames = decode_mp4(row["mp4"], size=(row["clip_height"], row["clip_width"]))
    return Clip(key=row["key"], frames=frames, fps=row["clip_fps"], source=row["source"], video_id=row["video_id"],
                start_frame=row["start_frame"], source_frames=tuple(json.loads(row["source_frames"])),
                rotation_turns=rotation_turns(row["rotation"]))


def boxes_json(localisation) -> dict:
    objects = {f"{i}:{t.label}": {str(k): list(map(float, b)) for k, b in t.boxes.items()}
               for i, t in enumerate(localisation.objects)}
    return {"person": {str(k): list(map(float, b)) for k, b in localisation.person.items()}, "objects": objects}


def run_backend(annotator, clips: list[Clip], context: dict[str, list]) -> list:
    """Results for every clip, or an AnnotationError in the place of a clip that failed (a batch
    that fails is retried clip by clip; this never raises AnnotationError)."""
    try:
        return list(annotator(clips, **context))
    except AnnotationError as exc:
        if len(clips) == 1:
            return [exc]
    out = []
    for i, clip in enumerate(clips):
        try:
            out.append(annotator([clip], **{k: [v[i]] for k, v in context.items()})[0])
        except AnnotationError as exc:
            out.append(exc)
    return out


def decode_rows(rows: list[dict]) -> tuple[list[dict], list[int], list[Clip]]:
    """(rows, with a failed decode recorded on its row; indices of the decoded rows; their clips)."""
    out, todo, clips = list(rows), [], []
    for i, row in enumerate(rows):
        if row["status"] != OK:
            continue
        try:
            clips.append(clip_from_row(row))
            todo.append(i)
        except (ValueError, av.error.FFmpegError) as exc:  # the clip mp4 does not decode: record it, go on
            out[i] = fail(row, FAILED, "clip_decode_error", str(exc))
    return out, todo, clips


def _given_localisation(row: dict):
    if not row["localisation"]:
        return AnnotationError("no_localisation", "the localise stage left no boxes on this row")
    return localisation_from_json(row["localisation"])


class AnnotateStage:
    name = "annotate"

    def __init__(self, config: AnnotateConfig):
        self.config = config
        self.annotators = {}

    def setup(self) -> None:
        for role, backend in self.config.roles().items():
            self.annotators[role] = build_annotator(role, backend, self.config.backend_config.get(role))
            if not (role == "localise" and self.config.separate_localise):  # the localise stage loads it
                self.annotators[role].setup()

    def _run_role(self, role: str, clips: list[Clip], done: dict[str, list]) -> list:
        return run_backend(self.annotators[role], clips, {name: done[name] for name in EARLIER[role]})

    def annotate(self, clips: list[Clip], localisations: list | None = None
                 ) -> tuple[dict[str, list], list[AnnotationError | None]]:
        """Every role on ``clips``; ``localisations`` (one per clip) stand in for the localise role."""
        self.role_seconds = dict.fromkeys(ROLES, 0.0)
        done: dict[str, list] = {RESULT_NAME[role]: [None] * len(clips) for role in ROLES}
        errors: list[AnnotationError | None] = [None] * len(clips)
        alive = list(range(len(clips)))
        for role in ROLES:
            if not alive:  # every clip failed an earlier role
                break
            subset = {name: [done[name][i] for i in alive] for name in EARLIER[role]}
            started = time.perf_counter()
            if role == "localise" and localisations is not None:
                results = [localisations[i] for i in alive]
            else:
                results = self._run_role(role, [clips[i] for i in alive], subset)
            self.role_seconds[role] = time.perf_counter() - started  # results are on the host: device work is done
            for i, result in zip(alive, results):
                if isinstance(result, AnnotationError):
                    errors[i] = result
                done[RESULT_NAME[role]][i] = result
            alive = [i for i in alive if errors[i] is None]
        return done, errors

    def sample(self, row: dict, clip: Clip, results: dict[str, list], i: int) -> dict:
        seg, pose = results["segmentations"][i], results["poses"][i]
        h, w = clip.size
        meta = ClipMeta(source=row["source"], video_id=row["video_id"], start_frame=row["start_frame"],
                        num_frames=clip.num_frames, fps=clip.fps, width=w, height=h, keypoint_format=pose.format,
                        object_labels=list(seg.labels), boxes=boxes_json(results["localisations"][i]),
                        annotators={r: self.annotators[r].tag for r in ROLES},
                        extra={"source_frames": list(clip.source_frames), "rotation": row["rotation"]})
        depth = np.asarray(results["depths"][i], np.float32)
        depth = nearest_resize(depth, output_size(*depth.shape[1:], self.config.depth_short_side))
        encoded = encode_sample(ClipSample(
            key=row["key"], video=row["mp4"], meta=meta, character_mask=seg.character, object_masks=seg.objects,
            keypoints=np.asarray(pose.keypoints, np.float32), depth=depth))
        return {**row, "json": encoded["json"], "mask_npz": encoded["mask.npz"], "pose_npz": encoded["pose.npz"],
                "depth_npz": encoded["depth.npz"]}

    def __call__(self, rows: list[dict]) -> list[dict]:
        if not self.annotators:
            self.setup()
        start = time.perf_counter()
        out, todo, clips = decode_rows(rows)
        decoded = time.perf_counter()
        given = [_given_localisation(rows[i]) for i in todo] if self.config.separate_localise else None
        results, errors = self.annotate(clips, given) if clips else ({}, [])
        annotated = time.perf_counter()
        for j, i in enumerate(todo):
            if errors[j] is not None:
                out[i] = fail(rows[i], FAILED, errors[j].reason, errors[j].detail)
                continue
            try:
                out[i] = self.sample(rows[i], clips[j], results, j)
            except ValueError as exc:  # arrays that disagree with the clip: the backend's output is unusable
                out[i] = fail(rows[i], FAILED, "annotation_shape_mismatch", str(exc))
        end, n = time.perf_counter(), max(1, len(todo))
        parts = {"decode": decoded - start, **(self.role_seconds if clips else {}), "encode": end - annotated}
        parts = json.dumps({k: round(v / n, 6) for k, v in parts.items()})  # each clip's share of the batch
        return [{**r, "t_annotate": (end - start) / n, "t_annotate_parts": parts} if i in todo else r
                for i, r in enumerate(out)]
