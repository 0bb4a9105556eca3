"""Box-prompted SAM2 video tracking of the person and the objects of one clip, in chunks.

One SAM2 object per track (id 0 = person, then the objects). A clip longer than ``chunk`` frames
is split into chunks that overlap by one frame: each chunk is prompted with the boxes on its own
keyframes and re-prompted, on its first frame, with the mask every track had on the last frame
of the previous chunk, so tracks carry across chunks while only one chunk of frames is resident
on the device. Within a chunk, propagation runs forward from the earliest prompt and then
backward to the chunk's start.
"""

from __future__ import annotations

from contextlib import nullcontext

import numpy as np
import torch

Prompts = dict[int, dict[int, tuple[float, float, float, float]]]  # track id -> clip frame -> box


def chunk_spans(num_frames: int, chunk: int) -> list[tuple[int, int]]:
    """[start, end) spans of at most ``chunk`` frames, consecutive spans sharing one frame."""
    if chunk < 2:
        raise ValueError("chunk must be at least 2 frames")
    spans, start = [], 0
    while True:
        end = min(start + chunk, num_frames)
        spans.append((start, end))
        if end == num_frames:
            return spans
        start = end - 1


def _prompt_chunk(predictor, state, prompts: Prompts, carry: dict[int, np.ndarray], span) -> bool:
    start, end = span
    prompted = False
    for track, boxes in prompts.items():
        here = {f - start: b for f, b in boxes.items() if start <= f < end}
        if track in carry and 0 not in here:
            predictor.add_new_mask(state, frame_idx=0, obj_id=track, mask=torch.from_numpy(carry[track]))
            prompted = True
        for frame, box in sorted(here.items()):
            predictor.add_new_points_or_box(state, frame_idx=frame, obj_id=track, box=np.asarray(box, np.float32))
            prompted = True
    return prompted


def _propagate(predictor, state, out: np.ndarray, start: int, threshold: float, ids: list[int]) -> None:
    for reverse in (False, True):
        for frame, obj_ids, logits in predictor.propagate_in_video(state, reverse=reverse):
            masks = (logits[:, 0] > threshold).cpu().numpy()
            for obj_id, mask in zip(obj_ids, masks):
                out[start + frame, ids.index(obj_id)] = mask


def track_clip(predictor, frames: np.ndarray, prompts: Prompts, chunk: int = 64, threshold: float = 0.0,
               bf16: bool = True, offload_video_to_cpu: bool = False) -> np.ndarray:
    """Masks bool [T, N, H, W] for tracks ``sorted(prompts)`` over frames uint8 [T, H, W, 3]."""
    ids = sorted(prompts)
    t, h, w = frames.shape[:3]
    out = np.zeros((t, len(ids), h, w), bool)
    device = predictor.device
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if bf16 and device.type == "cuda" else nullcontext()
    carry: dict[int, np.ndarray] = {}
    with torch.inference_mode(), autocast:
        for span in chunk_spans(t, chunk):
            state = predictor.init_state_from_frames(torch.from_numpy(frames[span[0] : span[1]]), offload_video_to_cpu)
            if _prompt_chunk(predictor, state, prompts, carry, span):
                _propagate(predictor, state, out, span[0], threshold, ids)
            last = out[span[1] - 1]
            carry = {track: last[i] for i, track in enumerate(ids) if last[i].any()}
            predictor.reset_state(state)
            del state
    return out
