"""Box-prompted SAM2 video tracking of the person and the objects of one clip, in chunks.

One SAM2 object per track (id 0 = person, then the objects). A clip longer than ``chunk`` frames
is split into chunks that overlap by one frame: each chunk is prompted with the boxes on its own
keyframes and re-prompted, on its first frame, with the mask every track had on the last frame
of the previous chunk, so tracks carry across chunks while only one chunk of frames is resident
on the device. Within a chunk, propagation runs forward from the earliest prompt and then
backward to the chunk's start. A track first boxed in a later chunk (an object picked up midway)
is then carried backward, chunk by chunk, from the mask it has on each chunk's last frame.
"""

from __future__ import annotations

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


def _propagate(predictor, state, out: np.ndarray, start: int, threshold: float, ids: list[int],
               directions=(False, True)) -> None:
    """Masks of every propagated frame into ``out``, moved to the host once per direction
    (a per-frame ``.cpu()`` would stall the device on every frame)."""
    for reverse in directions:
        frames, masks, rows = [], [], None
        for frame, obj_ids, logits in predictor.propagate_in_video(state, reverse=reverse):
            rows = [ids.index(obj_id) for obj_id in obj_ids]
            frames.append(start + frame)
            masks.append(logits[:, 0] > threshold)
        if frames:
            out[np.asarray(frames)[:, None], np.asarray(rows)[None, :]] = torch.stack(masks).cpu().numpy()


def track_clip(predictor, frames: np.ndarray, prompts: Prompts, chunk: int = 64, threshold: float = 0.0,
               offload_video_to_cpu: bool = False) -> np.ndarray:
    """Masks bool [T, N, H, W] for tracks ``sorted(prompts)`` over frames uint8 [T, H, W, 3].

    Always under bf16 autocast, on any device: the video predictor stores its memory features in
    bfloat16 unconditionally, and only autocast reconciles them with float32 activations.
    """
    ids = sorted(prompts)
    t, h, w = frames.shape[:3]
    out = np.zeros((t, len(ids), h, w), bool)
    autocast = torch.autocast(predictor.device.type, dtype=torch.bfloat16)
    spans = chunk_spans(t, chunk)
    with torch.inference_mode(), autocast:
        carry: dict[int, np.ndarray] = {}
        for span in spans:
            state = predictor.init_state_from_frames(torch.from_numpy(frames[span[0] : span[1]]), offload_video_to_cpu)
            if _prompt_chunk(predictor, state, prompts, carry, span):
                _propagate(predictor, state, out, span[0], threshold, ids)
            last = out[span[1] - 1]
            carry = {track: last[i] for i, track in enumerate(ids) if last[i].any()}
            predictor.reset_state(state)
        _backward_sweep(predictor, frames, prompts, out, spans, threshold, offload_video_to_cpu)
    return out


def _backward_sweep(predictor, frames, prompts: Prompts, out: np.ndarray, spans, threshold: float, offload: bool) -> None:
    """Carry tracks first boxed in a later chunk back through the earlier chunks."""
    ids = sorted(prompts)
    first = {track: min(boxes) for track, boxes in prompts.items() if boxes}
    for start, end in reversed(spans[:-1]):
        late = [i for i, track in enumerate(ids) if first.get(track, 0) >= end and out[end - 1, i].any()]
        if not late:
            continue
        state = predictor.init_state_from_frames(torch.from_numpy(frames[start:end]), offload)
        for i in late:
            predictor.add_new_mask(state, frame_idx=end - 1 - start, obj_id=ids[i], mask=torch.from_numpy(out[end - 1, i]))
        chunk_out = np.zeros((end - start, len(ids), *out.shape[2:]), bool)
        _propagate(predictor, state, chunk_out, 0, threshold, ids, directions=(True,))
        out[start:end, late] = chunk_out[:, late]
        predictor.reset_state(state)
