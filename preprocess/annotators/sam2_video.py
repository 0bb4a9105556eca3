"""SAM2.1 video segmentation backend: person and object mask tracks from the localiser's boxes.

Builds ``sam2.build_sam.build_sam2_video_predictor`` from a packaged config (Hydra overrides may
reshape it) with the checkpoint ``{"model": state_dict}`` loaded strictly, as our in-memory-frames
subclass (:mod:`preprocess.models.sam2_frames`), without the optional CUDA extension
(``fill_hole_area=0``). ``sam2`` is imported in ``setup()`` only: it initialises Hydra's global
state on import.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from .base import AnnotationError, Annotator, Clip, Localisation, Segmentation, require_file

log = logging.getLogger(__name__)
FETCH = "a SAM2.1 checkpoint (e.g. sam2.1_hiera_base_plus.pt) from https://github.com/facebookresearch/sam2#download-checkpoints"
# SAM2's components that may run wholly in bf16 (the prompt encoder stays under autocast: it embeds
# point and box coordinates, which bf16 would round to several pixels)
BF16_MODULES = ("image_encoder", "memory_attention", "memory_encoder", "sam_mask_decoder")


@dataclass
class Sam2Config:
    checkpoint: str = ""
    config: str = "configs/sam2.1/sam2.1_hiera_b+.yaml"  # packaged with the sam2 package
    overrides: list[str] = field(default_factory=list)  # extra Hydra overrides of the model config
    device: str = "auto"
    chunk: int = 64  # frames resident on the device at once
    threshold: float = 0.0  # on mask logits
    min_pixels: int = 16  # a frame whose person mask is smaller counts as empty
    max_empty_fraction: float = 0.25  # more empty person frames than this: the clip is rejected
    offload_video_to_cpu: bool = False
    feature_batch: int = 8  # frames per image-encoder pass (1: the stock one frame at a time)
    feature_cache: int = 64  # frames whose image features stay cached (prompts on several keyframes revisit them)
    batch_objects: bool = True  # track objects whose memories hold the same frames as one batch (sam2: one at a time)
    bf16_weights: bool = True  # Linear/Conv weights stored in bf16, so autocast does not cast them at every call
    # components run wholly in bf16, autocast off inside (no casts before their matrix products)
    bf16_modules: list[str] = field(default_factory=lambda: list(BF16_MODULES))
    compile: bool = False  # sam2's vos_optimized compilation (CUDA only; the first clip compiles: over 420 s on an H100)
    num_gpus: float = 0.0

    def __post_init__(self) -> None:
        if (self.chunk < 2 or not 0 <= self.max_empty_fraction <= 1 or self.min_pixels < 1 or self.feature_batch < 1
                or self.feature_cache < 1):
            raise ValueError("chunk >= 2, 0 <= max_empty_fraction <= 1, min_pixels >= 1, feature_batch >= 1 and "
                             "feature_cache >= 1 are required")
        if isinstance(self.bf16_modules, str):
            raise ValueError(f"bf16_modules: a list of names, e.g. [{self.bf16_modules}], not a string")
        unknown = sorted(set(self.bf16_modules) - set(BF16_MODULES))
        if unknown:
            raise ValueError(f"bf16_modules: unknown {unknown}; choose from {list(BF16_MODULES)}")


def build_predictor(config: str, checkpoint: str | None, device, overrides=(), feature_batch: int = 8,
                    compile: bool = False, feature_cache: int = 64, batch_objects: bool = True,
                    bf16_weights: bool = False, bf16_modules=()):
    """Our in-memory-frames video predictor (compiled as sam2's ``vos_optimized`` if asked).

    ``bf16_weights`` stores the weights of Linear and convolution layers in bfloat16. The predictor
    always runs under bf16 autocast (:func:`preprocess.models.sam2_track.track_clip`), which
    otherwise casts each float32 weight again at every call: one kernel and its host work per layer,
    per frame and per object. Norms, embeddings and positional tables stay float32, as autocast
    keeps them, except inside the components named in ``bf16_modules`` (of :data:`BF16_MODULES`),
    which run in bfloat16 throughout, parameters included: see :func:`run_in_bf16`. A predictor so
    built runs only under bf16 autocast.
    """
    import torch
    from sam2.build_sam import build_sam2_video_predictor

    compile = compile and torch.device(device).type == "cuda"  # compiled for CUDA graphs; eager elsewhere
    cls = "FramesVideoPredictorVOS" if compile else "FramesVideoPredictor"
    extra = [*overrides, f"++model._target_=preprocess.models.sam2_frames.{cls}"]
    if compile:
        extra.append("++model.compile_image_encoder=true")
    predictor = build_sam2_video_predictor(config, checkpoint, device=device, hydra_overrides_extra=extra)
    predictor.fill_hole_area = 0  # hole filling needs sam2's optional CUDA extension
    predictor.feature_batch = feature_batch
    predictor.feature_cache = feature_cache
    predictor.batch_objects = batch_objects
    if bf16_weights:
        cast_matmul_weights(predictor, torch.bfloat16)
    for name in bf16_modules:
        run_in_bf16(getattr(predictor, name))
    return predictor


def run_in_bf16(module) -> None:
    """Run ``module`` in bfloat16 throughout: parameters (norms included) in bf16, floating inputs
    cast once on entry, autocast off inside.

    Under autocast a transformer's residual stream stays float32 and LayerNorm runs in float32, so
    every matrix product first casts its float32 input to bf16: a kernel per layer, per frame and
    per object. In bf16 throughout those casts are gone (sam2's rotary encoding still rotates
    queries and keys in float32); LayerNorm and attention still accumulate in float32 inside their
    kernels. The output is bf16 (autocast takes it as it is afterwards).
    """
    import torch

    module.to(torch.bfloat16)
    device_type = next(module.parameters()).device.type
    forward = module.forward

    def cast(value):
        if isinstance(value, (list, tuple)):
            return type(value)(cast(v) for v in value)
        if isinstance(value, torch.Tensor) and value.is_floating_point():
            return value.to(torch.bfloat16)
        return value

    def bf16_forward(*args, **kwargs):
        with torch.autocast(device_type, enabled=False):
            return forward(*cast(args), **{k: cast(v) for k, v in kwargs.items()})

    module.forward = bf16_forward


def cast_matmul_weights(model, dtype) -> None:
    """Cast the parameters of ``model``'s Linear and (transposed) convolution layers to ``dtype``."""
    import torch

    for m in model.modules():
        if isinstance(m, (torch.nn.Linear, torch.nn.Conv1d, torch.nn.Conv2d, torch.nn.ConvTranspose2d)):
            m.to(dtype)


class Sam2Segmenter(Annotator):
    role, name, version = "segment", "sam2", "1"

    def __init__(self, **config):
        self.config = Sam2Config(**config)
        self.checkpoint = require_file(self.config.checkpoint, "SAM2 weights", FETCH)
        self.num_gpus = self.config.num_gpus
        self.predictor = None

    def setup(self) -> None:
        from preprocess.models.device import log_setup_memory, memory_mark, resolve_device

        device = resolve_device(self.config.device)
        before = memory_mark(device)
        self.predictor = build_predictor(self.config.config, str(self.checkpoint), device, self.config.overrides,
                                         self.config.feature_batch, self.config.compile, self.config.feature_cache,
                                         self.config.batch_objects, self.config.bf16_weights,
                                         self.config.bf16_modules)
        log_setup_memory(f"sam2 ({self.config.config})", device, before)

    def __call__(self, clips: list[Clip], localisations: list[Localisation], **_) -> list[Segmentation | AnnotationError]:
        if self.predictor is None:
            self.setup()
        results = []
        for clip, loc in zip(clips, localisations, strict=True):
            try:
                results.append(self._one(clip, loc))
            except AnnotationError as err:
                results.append(err)
        return results

    def _one(self, clip: Clip, loc: Localisation) -> Segmentation:
        from preprocess.models.sam2_track import track_clip

        if not loc.person:
            raise AnnotationError("no_person_box", "the localiser found no person box to prompt with")
        prompts = {0: dict(loc.person)}
        prompts.update({i + 1: dict(obj.boxes) for i, obj in enumerate(loc.objects) if obj.boxes})
        labels = [obj.label for obj in loc.objects if obj.boxes]
        c = self.config
        masks = track_clip(self.predictor, clip.frames, prompts, c.chunk, c.threshold, c.offload_video_to_cpu)
        self._check_person(masks[:, 0])
        keep = [k for k in range(len(labels)) if masks[:, k + 1].any()]
        if len(keep) < len(labels):
            log.info("%s: dropped objects with empty masks: %s", clip.key, sorted(set(labels) - {labels[k] for k in keep}))
        return Segmentation(character=masks[:, 0], objects=masks[:, [k + 1 for k in keep]], labels=[labels[k] for k in keep])

    def _check_person(self, person: np.ndarray) -> None:
        area = person.reshape(len(person), -1).sum(axis=1)
        empty = area < self.config.min_pixels
        if empty.all():
            raise AnnotationError("empty_person_mask", "SAM2 found no person pixels on any frame")
        if empty.mean() > self.config.max_empty_fraction:
            raise AnnotationError("vanishing_person_mask", f"person mask empty on {int(empty.sum())}/{len(empty)} frames")
