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
of one window, every jump re-encoded a window. Prompts, memory and propagation are the stock
predictor's.
``FramesVideoPredictorVOS`` is the same on top of sam2's ``SAM2VideoPredictorVOS``, which
compiles the memory encoder, memory attention and SAM heads (``vos_optimized`` in sam2).
"""

from __future__ import annotations

from collections import OrderedDict

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


class FramesMixin:
    feature_batch: int = 8  # frames per image-encoder pass; 1 restores the stock behaviour
    feature_cache: int = 64  # frames whose features stay cached (with feature_batch > 1); 4.2 M values a frame for B+/L

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


class FramesVideoPredictor(FramesMixin, SAM2VideoPredictor):
    pass


class FramesVideoPredictorVOS(FramesMixin, SAM2VideoPredictorVOS):
    pass
