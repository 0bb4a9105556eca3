"""SAM2's video predictor fed from decoded frames in memory. Imports ``sam2``: import this lazily.

``SAM2VideoPredictor.init_state`` only reads a JPEG folder or an mp4 (path or bytes, through
decord). Our clips are already decoded, so both routes would encode frames only to decode them
again (JPEG: lossy and ~3 ms a frame each way; mp4: an x264 encode). This subclass builds the
same inference state straight from a uint8 tensor: frames go to the device once, are resized to
the model's square input there and normalised as ``sam2.utils.misc.load_video_frames`` does.

The stock predictor runs the image encoder on one frame at a time as propagation reaches it,
and keeps only the last frame's features. Here a miss encodes a window of ``feature_batch``
frames at once, ahead in the direction of travel (shifted to lie inside the clip, so every pass
encodes that many real frames and a compiled encoder sees one shape), and the features of the
last ``feature_cache`` frames stay cached. Prompts on several keyframes jump between distant
frames (each prompt, then again when propagation starts from the prompted frames); with a cache
of one window, every jump re-encoded a window.

sam2 (1.1) propagates one object at a time: for every frame and object it runs memory
attention, mask decoder and memory encoder, hundreds of small kernels launched from Python, so
host work bounds it and its cost grows with the tracks. Here objects whose memories hold the same
frames (the usual case: person and objects boxed on the same keyframes) go through a frame as
one batch, their stored memories stacked along the batch when the memory attention reads them
(``batch_objects``; False restores one object at a time). Prompts and memory are the stock
predictor's.
``FramesVideoPredictorVOS`` is the same on top of sam2's ``SAM2VideoPredictorVOS``, which
compiles the memory encoder, memory attention and SAM heads (``vos_optimized`` in sam2).
"""

from __future__ import annotations

from collections import OrderedDict, defaultdict
from collections.abc import Mapping

import sam2.sam2_video_predictor as stock
import torch
import torch.nn.functional as F
from sam2.sam2_video_predictor import SAM2VideoPredictor, SAM2VideoPredictorVOS

stock.tqdm = lambda iterable, *args, **kwargs: iterable  # a progress bar per propagation is noise in a batch job

_MEAN = (0.485, 0.456, 0.406)
_STD = (0.229, 0.224, 0.225)


def frames_to_model_input(frames: torch.Tensor, image_size: int, device: torch.device) -> torch.Tensor:
    """uint8 [T, H, W, 3] -> float32 [T, 3, S, S] normalised as SAM2's own loaders do."""
    x = frames.to(device, non_blocking=True).permute(0, 3, 1, 2).float() / 255.0
    x = F.interpolate(x, size=(image_size, image_size), mode="bilinear", align_corners=False, antialias=True)
    mean = torch.tensor(_MEAN, device=device).view(1, 3, 1, 1)
    std = torch.tensor(_STD, device=device).view(1, 3, 1, 1)
    return (x - mean) / std


def feature_window(frame_idx: int, num_frames: int, size: int, backward: bool) -> list[int]:
    """The frames to encode on a miss at ``frame_idx``: ``size`` of them (fewer only in a shorter
    clip), from ``frame_idx`` on in the direction of travel, shifted back inside the clip at its ends."""
    size = min(size, num_frames)
    start = max(0, frame_idx - size + 1) if backward else min(frame_idx, num_frames - size)
    return list(range(start, start + size))


class _StackedOutput(Mapping):
    """One frame's stored outputs of several objects; a field read stacks it along the batch."""

    def __init__(self, outputs: list[dict]) -> None:
        self.outputs = outputs

    def __getitem__(self, key):
        values = [out[key] for out in self.outputs]
        if isinstance(values[0], list):  # maskmem_pos_enc: one tensor per level
            return [torch.cat(level) for level in zip(*values)]
        return torch.cat(values)

    def __iter__(self):
        return iter(self.outputs[0])

    def __len__(self) -> int:
        return len(self.outputs[0])


class _StackedFrames(Mapping):
    """frame -> :class:`_StackedOutput` for objects whose memories hold the same frames."""

    def __init__(self, per_object: list[dict]) -> None:
        self.per_object = per_object

    def __getitem__(self, frame_idx) -> _StackedOutput:
        return _StackedOutput([frames[frame_idx] for frames in self.per_object])

    def __iter__(self):
        return iter(self.per_object[0])

    def __len__(self) -> int:
        return len(self.per_object[0])


def _object_slice(out: dict, j: int) -> dict:
    """Object ``j``'s share of a batched frame output, as stored per object."""
    def take(value):
        if isinstance(value, list):
            return [v[j : j + 1] for v in value]
        return None if value is None else value[j : j + 1]

    return {key: take(value) for key, value in out.items()}


def same_memory_groups(output_dicts: dict[int, dict], objects: list[int]) -> list[list[int]]:
    """Objects whose memories hold the same conditioning and tracked frames, in groups: each group
    can be tracked through a frame as one batch (the memory attention reads the same frames)."""
    groups: dict[tuple, list[int]] = defaultdict(list)
    for i in objects:
        d = output_dicts[i]
        groups[(tuple(sorted(d["cond_frame_outputs"])), tuple(sorted(d["non_cond_frame_outputs"])))].append(i)
    return list(groups.values())


class FramesMixin:
    feature_batch: int = 8  # frames per image-encoder pass; 1 restores the stock behaviour
    feature_cache: int = 64  # frames whose features stay cached (with feature_batch > 1); 4.2 M values a frame for B+/L
    batch_objects: bool = True  # track objects with the same memory frames as one batch (False: one at a time, stock)

    @torch.inference_mode()
    def init_state_from_frames(self, frames: torch.Tensor, offload_video_to_cpu: bool = False) -> dict:
        """The state ``init_state`` would build for these frames (uint8 [T, H, W, 3], RGB)."""
        device = self.device
        images = frames_to_model_input(frames, self.image_size, device)
        if offload_video_to_cpu:
            images = images.cpu()
        state = {
            "images": images,
            "num_frames": len(images),
            "offload_video_to_cpu": offload_video_to_cpu,
            "offload_state_to_cpu": False,
            "video_height": int(frames.shape[1]),
            "video_width": int(frames.shape[2]),
            "device": device,
            "storage_device": device,
            "point_inputs_per_obj": {},
            "mask_inputs_per_obj": {},
            "cached_features": {},
            "constants": {},
            "obj_id_to_idx": OrderedDict(),
            "obj_idx_to_id": OrderedDict(),
            "obj_ids": [],
            "output_dict_per_obj": {},
            "temp_output_dict_per_obj": {},
            "frames_tracked_per_obj": {},
        }
        self._get_image_feature(state, frame_idx=0, batch_size=1)
        return state

    def _get_image_feature(self, inference_state, frame_idx, batch_size):
        if self.feature_batch > 1 and frame_idx not in inference_state["cached_features"]:
            self._encode_window(inference_state, frame_idx)
        inference_state["last_feature_frame"] = frame_idx
        return super()._get_image_feature(inference_state, frame_idx, batch_size)

    def _encode_window(self, state: dict, frame_idx: int) -> None:
        """Encode a window of frames in one pass and cache them; the oldest cached frames beyond
        ``feature_cache`` (at least one window) are dropped."""
        last = state.get("last_feature_frame")
        window = feature_window(frame_idx, state["num_frames"], self.feature_batch, last is not None and frame_idx < last)
        index = window + [window[-1]] * (self.feature_batch - len(window))  # pad a short clip: one input shape
        images = state["images"][index].to(state["device"]).float()
        out = self.forward_image(images)
        # The positional encodings depend on the input size only: one copy serves every frame
        # (per frame they would hold 5x the features' values and keep the whole batch alive).
        pos = [level[:1].clone() for level in out["vision_pos_enc"]]
        cache = state["cached_features"]
        for i, f in enumerate(window):
            cache.pop(f, None)  # re-inserted: now among the newest
            # the image is returned to callers that ignore it: a view of the clip, no copy
            cache[f] = (state["images"][f : f + 1], {"backbone_fpn": [level[i : i + 1] for level in out["backbone_fpn"]],
                                                     "vision_pos_enc": pos})
        while len(cache) > max(self.feature_cache, len(window)):
            del cache[next(iter(cache))]

    @torch.inference_mode()
    def propagate_in_video(self, inference_state, start_frame_idx=None, max_frame_num_to_track=None, reverse=False):
        """The stock propagation, except that on each frame the objects whose memories hold the
        same frames go through memory attention, mask decoder and memory encoder as one batch;
        sam2 runs them one object at a time, and that host work is what bounds its speed."""
        if not self.batch_objects or self._get_obj_num(inference_state) < 2:
            yield from super().propagate_in_video(inference_state, start_frame_idx, max_frame_num_to_track, reverse)
            return
        self.propagate_in_video_preflight(inference_state)
        outputs, n = inference_state["output_dict_per_obj"], self._get_obj_num(inference_state)
        if start_frame_idx is None:  # from the earliest prompted frame
            start_frame_idx = min(t for d in outputs.values() for t in d["cond_frame_outputs"])
        span = inference_state["num_frames"] if max_frame_num_to_track is None else max_frame_num_to_track
        if reverse:  # as the stock predictor: nothing before frame 0
            order = range(start_frame_idx, max(start_frame_idx - span, 0) - 1, -1) if start_frame_idx > 0 else []
        else:
            order = range(start_frame_idx, min(start_frame_idx + span, inference_state["num_frames"] - 1) + 1)
        for frame_idx in order:
            masks = [None] * n
            pending = []
            for i in range(n):
                if frame_idx in outputs[i]["cond_frame_outputs"]:  # a prompted frame: its output is stored
                    masks[i] = outputs[i]["cond_frame_outputs"][frame_idx]["pred_masks"].to(
                        inference_state["device"], non_blocking=True)
                    if self.clear_non_cond_mem_around_input:
                        self._clear_obj_non_cond_mem_around_input(inference_state, frame_idx, i)
                else:
                    pending.append(i)
            for group in same_memory_groups(outputs, pending):
                self._track_group(inference_state, frame_idx, group, reverse, masks)
            for i in range(n):
                inference_state["frames_tracked_per_obj"][i][frame_idx] = {"reverse": reverse}
            _, video_res_masks = self._get_orig_video_res_output(inference_state, torch.cat(masks))
            yield frame_idx, inference_state["obj_ids"], video_res_masks

    def _track_group(self, state: dict, frame_idx: int, group: list[int], reverse: bool, masks: list) -> None:
        outputs = state["output_dict_per_obj"]
        if len(group) == 1:
            memory = outputs[group[0]]
        else:
            memory = {key: _StackedFrames([outputs[i][key] for i in group])
                      for key in ("cond_frame_outputs", "non_cond_frame_outputs")}
        out, pred_masks = self._run_single_frame_inference(
            inference_state=state, output_dict=memory, frame_idx=frame_idx, batch_size=len(group),
            is_init_cond_frame=False, point_inputs=None, mask_inputs=None, reverse=reverse, run_mem_encoder=True)
        for j, i in enumerate(group):
            outputs[i]["non_cond_frame_outputs"][frame_idx] = _object_slice(out, j) if len(group) > 1 else out
            masks[i] = pred_masks[j : j + 1]


class FramesVideoPredictor(FramesMixin, SAM2VideoPredictor):
    pass


class FramesVideoPredictorVOS(FramesMixin, SAM2VideoPredictorVOS):
    pass
