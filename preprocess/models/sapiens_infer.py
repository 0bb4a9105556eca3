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
                 mean=SAPIENS_MEAN, std=SAPIENS_STD, fixed_batch: bool = False):
        self.model, self.input_hw, self.device = model, tuple(input_hw), device
        self.dtype, self.batch_size, self.autocast = dtype, batch_size, autocast
        self.mean, self.std = mean, std
        self.fixed_batch = fixed_batch  # pad short batches: a compiled model then sees one shape

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
        n = len(x)
        if self.fixed_batch and n < self.batch_size:
            x = torch.cat([x, x[-1:].expand(self.batch_size - n, *x.shape[1:])])
        with self._context():
            return self.model(x)[:n].float()

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


def speed_up_head(model, channels_last: bool = False, compile: bool = False):
    """Our Sapiens modules' upsampling head in channels-last memory and compiled.

    The heads are stride-2 deconvolutions up to 1/4 (pose) or the full input resolution (depth),
    each followed by InstanceNorm and SiLU; the depth head's FLOPs are 62% (0.3B) and 19% (1B) of
    the backbone's. Channels-last is cuDNN's native layout for bf16 convolutions, but eager
    InstanceNorm is slow in it: use both together (measured on an H200, depth 0.3B: eager 41,
    channels-last alone 19, both 71 frames/s). Models other than our own (TorchScript exports,
    Sapiens2) are returned unchanged.
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
