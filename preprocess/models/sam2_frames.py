"""SAM2's video predictor fed from decoded frames in memory. Imports ``sam2``: import this lazily.

``SAM2VideoPredictor.init_state`` only reads a JPEG folder or an mp4 (path or bytes, through
decord). Our clips are already decoded, so both routes would encode frames only to decode them
again (JPEG: lossy and ~3 ms a frame each way; mp4: an x264 encode). This subclass builds the
same inference state straight from a uint8 tensor: frames go to the device once, are resized to
the model's square input there and normalised as ``sam2.utils.misc.load_video_frames`` does.
Everything else (prompts, memory, propagation) is the stock predictor.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
import torch.nn.functional as F
from sam2.sam2_video_predictor import SAM2VideoPredictor

_MEAN = (0.485, 0.456, 0.406)
_STD = (0.229, 0.224, 0.225)


def frames_to_model_input(frames: torch.Tensor, image_size: int, device: torch.device) -> torch.Tensor:
    """uint8 [T, H, W, 3] -> float32 [T, 3, S, S] normalised as SAM2's own loaders do."""
    x = frames.to(device, non_blocking=True).permute(0, 3, 1, 2).float() / 255.0
    x = F.interpolate(x, size=(image_size, image_size), mode="bilinear", align_corners=False, antialias=True)
    mean = torch.tensor(_MEAN, device=device).view(1, 3, 1, 1)
    std = torch.tensor(_STD, device=device).view(1, 3, 1, 1)
    return (x - mean) / std


class FramesVideoPredictor(SAM2VideoPredictor):
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
