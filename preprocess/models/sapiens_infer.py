"""Batched top-down inference for Sapiens-shaped models, pre- and post-processing on the device.

Works for any callable mapping normalised crops [B, 3, h, w] to heatmaps [B, K, h/4, w/4] (pose)
or to maps [B, C, h', w'] with depth in one channel: our own modules, Sapiens-Lite TorchScript
exports and transformers' Sapiens2 models (through a small adapter in the backend). Frames go to
the device as uint8; crops are cut with ``grid_sample``; heatmaps are decoded there; only the
final keypoints or depth maps come back to the host.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import nullcontext

import numpy as np
import torch
import torch.nn.functional as F

from .topdown import SAPIENS_MEAN, SAPIENS_STD, crop_to_frame, cut_crops, decode_heatmaps, normalise, paste_crops, topdown_crops


class TopdownRunner:
    def __init__(self, model: Callable[[torch.Tensor], torch.Tensor], input_hw: tuple[int, int], device: torch.device,
                 dtype: torch.dtype = torch.bfloat16, batch_size: int = 16, autocast: bool = True,
                 mean=SAPIENS_MEAN, std=SAPIENS_STD):
        self.model, self.input_hw, self.device = model, tuple(input_hw), device
        self.dtype, self.batch_size, self.autocast = dtype, batch_size, autocast
        self.mean, self.std = mean, std

    def _context(self):
        if self.autocast and self.dtype != torch.float32:
            return torch.autocast(self.device.type, dtype=self.dtype)
        return nullcontext()

    def _inputs(self, frames: np.ndarray, boxes: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        images = torch.from_numpy(np.ascontiguousarray(frames)).to(self.device, non_blocking=True)
        images = images.permute(0, 3, 1, 2).float()
        crops = topdown_crops(torch.as_tensor(boxes, dtype=torch.float32, device=self.device))
        return normalise(cut_crops(images, crops, self.input_hw), self.mean, self.std), crops

    @torch.inference_mode()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with self._context():
            return self.model(x).float()

    @torch.inference_mode()
    def forward_backbone(self, x: torch.Tensor) -> torch.Tensor:
        """The backbone alone (own modules only): the floor under any end-to-end figure."""
        with self._context():
            return self.model.backbone(x)

    def keypoints(self, frames: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        """Frames [T, H, W, 3] uint8 and person boxes [T, 4] -> keypoints [T, K, 3] (x, y, score)."""
        out = []
        for s in range(0, len(frames), self.batch_size):
            x, crops = self._inputs(frames[s : s + self.batch_size], boxes[s : s + self.batch_size])
            heatmaps = self.forward(x)
            xy, score = decode_heatmaps(heatmaps)
            xy = crop_to_frame(xy, crops, tuple(heatmaps.shape[-2:]))
            out.append(torch.cat([xy, score.unsqueeze(-1)], dim=-1).cpu())
        return torch.cat(out).numpy().astype(np.float32)

    def depth(self, frames: np.ndarray, boxes: np.ndarray, masks: np.ndarray, out_hw: tuple[int, int],
              channel: int = 0) -> np.ndarray:
        """Relative depth [T, oh, ow] (output ``channel``) on the person region, NaN outside the person mask."""
        fh, fw = frames.shape[1:3]
        sy, sx = out_hw[0] / fh, out_hw[1] / fw
        out = []
        for s in range(0, len(frames), self.batch_size):
            x, crops = self._inputs(frames[s : s + self.batch_size], boxes[s : s + self.batch_size])
            pred = self.forward(x)[:, channel : channel + 1]
            scaled = torch.stack([(crops[:, 0] + 0.5) * sx - 0.5, (crops[:, 1] + 0.5) * sy - 0.5,
                                  crops[:, 2] * sx, crops[:, 3] * sy], dim=1)
            depth = paste_crops(pred, scaled, out_hw)[:, 0]
            mask = torch.from_numpy(masks[s : s + self.batch_size]).to(self.device)[:, None].float()
            mask = F.interpolate(mask, size=out_hw, mode="nearest")[:, 0] > 0.5
            out.append(torch.where(mask, depth, torch.full_like(depth, float("nan"))).cpu())
        return torch.cat(out).numpy().astype(np.float32)


def speed_up_head(model, channels_last: bool = True, compile: bool = False):
    """Our Sapiens modules' upsampling head in channels-last memory, and compiled if asked.

    The heads are stride-2 deconvolutions up to 1/4 (pose) or the full input resolution (depth),
    each followed by InstanceNorm and SiLU: at 1024x768 with 384 channels the depth head moves
    more memory than the backbone. Channels-last is cuDNN's native layout for bf16 convolutions
    (the backbone's tokens already come out in it); compiling fuses each norm with its SiLU.
    Models other than our own (TorchScript exports, Sapiens2) are returned unchanged.
    """
    from .sapiens_vit import SapiensDepth, SapiensPose

    if not isinstance(model, (SapiensPose, SapiensDepth)):
        return model
    head = model.head if isinstance(model, SapiensPose) else model.decode_head
    forward = head.forward
    if channels_last:
        head.to(memory_format=torch.channels_last)
        head.forward = lambda x: forward(x.contiguous(memory_format=torch.channels_last))
    if compile:
        head.forward = torch.compile(head.forward, dynamic=False)
    return model
