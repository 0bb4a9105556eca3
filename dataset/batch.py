"""The typed training batch handed from the data pipeline to the trainer.

A batch crosses process and device boundaries *packed*: images as uint8, masks as bool, which
is 4x less shared memory and host-to-device traffic than float32. ``batch.to(device)`` moves it
and unpacks it there; ``unpack()`` does the same in place. Unpacked fields (B samples, F frames,
H x W pixels):

=================  ======================  =============================================
``frames``         float [B, 3, F, H, W]   target frames in [-1, 1]
``environment``    float [B, 3, F, H, W]   frames * (1 - mask), in [-1, 1], 0 under Mf
``mask``           float [B, 1, F, H, W]   shape-agnostic mask Mf in {0, 1}
``character``      float [B, 1, F, H, W]   character mask of the target frames, {0, 1}
``objects``        float [B, 3, F, H, W]   frames * object_mask, in [-1, 1]
``object_mask``    float [B, 1, F, H, W]   union of the interacting objects' masks, {0, 1}
``skeleton``       float [B, 3, F, H, W]   skeleton images in [0, 1]
``struct_depth``   float [B, 1, F, H, W]   structured depth in [0, 1], 0 off the skeleton
``reference``      float [B, 3, H, W]      reference character in [-1, 1]
``reference_clip`` float [B, 3, 224, 224]  reference for the image encoder, CLIP-normalised
``keys``           list[str]               clip keys
=================  ======================  =============================================
``stream`` carries the loader's bookkeeping (which worker, where in its stream, error counts).
``object_shown`` (bool [B*F], on the host) says which frames show an object; ``collate`` (in the
loader's workers) or else ``to()`` computes it from the host copy of ``object_mask``, so that the
trainer selects the frames to encode without reading the device back (a read-back stalls the
host until the GPU is idle).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any

import numpy as np
import torch

from .reference import CLIP_MEAN, CLIP_STD

_VIDEO_RGB = ("frames", "environment", "objects")
_MASKS = ("mask", "character", "object_mask")
_TENSORS = (*_VIDEO_RGB, *_MASKS, "skeleton", "struct_depth", "reference", "reference_clip")


@dataclass
class AA2Batch:
    frames: torch.Tensor
    environment: torch.Tensor
    mask: torch.Tensor
    character: torch.Tensor
    objects: torch.Tensor
    object_mask: torch.Tensor
    skeleton: torch.Tensor
    struct_depth: torch.Tensor
    reference: torch.Tensor
    reference_clip: torch.Tensor
    keys: list[str]
    packed: bool = True
    stream: Any = None
    object_shown: torch.Tensor | None = None

    def __len__(self) -> int:
        return len(self.keys)

    @property
    def num_frames(self) -> int:
        return self.frames.shape[2]

    def _map(self, fn) -> "AA2Batch":
        return replace(self, **{name: fn(getattr(self, name)) for name in _TENSORS})

    def pin_memory(self) -> "AA2Batch":
        """Called by DataLoader(pin_memory=True) on custom batch types."""
        return self._map(lambda t: t.pin_memory())

    def to(self, device, dtype: torch.dtype = torch.float32, non_blocking: bool = True) -> "AA2Batch":
        """Move to ``device`` and unpack there (the cheap conversion runs on the GPU)."""
        shown = self.object_shown
        if shown is None and self.object_mask.device.type == "cpu":
            shown = self.shown_frames()
        moved = replace(self._map(lambda t: t.to(device, non_blocking=non_blocking)), object_shown=shown)
        return moved.unpack(dtype) if moved.packed else moved._map(lambda t: t.to(dtype))

    def shown_frames(self) -> torch.Tensor:
        """bool [B*F]: which frames (sample-major) have object pixels."""
        return frames_showing(self.object_mask)

    def unpack(self, dtype: torch.dtype = torch.float32) -> "AA2Batch":
        if not self.packed:
            return self
        mask = self.mask.to(dtype)
        object_mask = self.object_mask.to(dtype)
        mean, std = _clip_stats(self.reference_clip.device, dtype)
        return replace(
            self,
            frames=_signed(self.frames, dtype),
            environment=_signed(self.environment, dtype) * (1 - mask),
            mask=mask,
            character=self.character.to(dtype),
            objects=_signed(self.objects, dtype) * object_mask,
            object_mask=object_mask,
            skeleton=self.skeleton.to(dtype) / 255,
            struct_depth=self.struct_depth.to(dtype) / 255,
            reference=_signed(self.reference, dtype),
            reference_clip=(self.reference_clip.to(dtype) / 255 - mean) / std,
            packed=False,
        )


def frames_showing(object_mask: torch.Tensor) -> torch.Tensor:
    """Object mask [B, 1, F, H, W] -> bool [B*F]: which frames (sample-major) have object pixels."""
    b, _, f = object_mask.shape[:3]
    return (object_mask.transpose(1, 2).reshape(b * f, -1) != 0).any(dim=1)


@lru_cache(maxsize=8)
def _clip_stats(device: torch.device, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """CLIP's mean and std as [1, 3, 1, 1] on ``device``, made once: a copy from the host at every
    step would wait for the GPU."""
    def make(values):
        with torch.inference_mode(False):  # usable outside inference mode too, whichever call made them
            return torch.tensor(values, dtype=dtype).view(1, 3, 1, 1).to(device)

    return make(CLIP_MEAN), make(CLIP_STD)


def _signed(t: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    return t.to(dtype) / 127.5 - 1


def _video(arrays: list[np.ndarray]) -> torch.Tensor:
    """[F, H, W, C] or [F, H, W] per sample -> [B, C, F, H, W]."""
    stacked = np.stack(arrays)
    if stacked.ndim == 4:
        stacked = stacked[..., None]
    return torch.from_numpy(np.ascontiguousarray(stacked.transpose(0, 4, 1, 2, 3)))


def _image(arrays: list[np.ndarray]) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(np.stack(arrays).transpose(0, 3, 1, 2)))


def collate(samples: list, stream: Any = None) -> AA2Batch:
    """TrainingSamples (same size and frame count) -> one packed :class:`AA2Batch`."""
    if not samples:
        raise ValueError("cannot collate an empty list of samples")
    video = {name: _video([getattr(s, name) for s in samples]) for name in _TENSORS[:-2]}
    batch = AA2Batch(
        **video,
        reference=_image([s.reference for s in samples]),
        reference_clip=_image([s.reference_clip for s in samples]),
        keys=[s.key for s in samples],
        packed=True,
        stream=stream,
    )
    return replace(batch, object_shown=batch.shown_frames())  # in the loader's workers, off the training loop
