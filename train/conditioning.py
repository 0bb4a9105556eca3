"""From a data batch to the network's inputs: frozen VAE and image-encoder passes, run in the step.

Latents are computed on the GPU each step rather than stored in shards, because the conditions
are re-randomised every epoch (crops, scale augmentation, shape-agnostic mask). Everything here
runs without gradients. Classifier-free-guidance dropout zeroes the reference latent and the
image embedding per sample; sampling uses the same zeros as its unconditional branch.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from diffusers import AutoencoderKL
from diffusers.models.autoencoders.vae import DiagonalGaussianDistribution
from torch import nn
from transformers import CLIPVisionModelWithProjection

from dataset.batch import AA2Batch, frames_showing


@dataclass
class ModelInputs:
    """Everything AA2Model.forward takes besides the noisy latents and timesteps."""

    latents: torch.Tensor  # [B, 4, F, h, w] clean target latents
    ref_latents: torch.Tensor  # [B, 4, h, w]
    image_embeds: torch.Tensor  # [B, 1, D]
    env_latents: torch.Tensor | None  # [B, 4, F, h, w]
    mask: torch.Tensor | None  # [B, 1, F, h, w]
    skeleton: torch.Tensor  # [B, 3, F, H, W]
    struct_depth: torch.Tensor | None  # [B, 1, F, H, W]
    object_latents: torch.Tensor | None  # [B, 4, F, h, w]

    def model_kwargs(self) -> dict:
        return {
            "ref_latents": self.ref_latents, "image_embeds": self.image_embeds, "env_latents": self.env_latents,
            "mask": self.mask, "skeleton": self.skeleton, "struct_depth": self.struct_depth,
            "object_latents": self.object_latents,
        }


def call_sizes(n: int, chunk: int, pad_to: int = 0) -> list[int]:
    """Images in each encoder call :func:`latent_moments` makes for ``n`` images: ``chunk`` a call,
    the last call padded up to a multiple of ``pad_to`` (at most ``chunk``) where asked."""
    full, last = divmod(n, chunk)
    if last and pad_to:
        last = min(chunk, -(-last // pad_to) * pad_to)
    return [chunk] * full + ([last] if last else [])


def images_per_step(batch_size: int, frames: int, options) -> range:
    """How many images :func:`build_inputs` sends through the VAE encoder for a batch of this
    shape: target frames, references and environment frames always; with objects, the frames
    that show one (0 to all) and one blank frame unless every frame shows one."""
    n = batch_size * frames + batch_size + (batch_size * frames if options.use_environment else 0)
    if not options.use_object:
        return range(n, n + 1)
    return range(n + 1, n + batch_size * frames + 1)


def encoder_call_sizes(batch_size: int, frames: int, options, chunk: int, pad_to: int = 0) -> list[int]:
    """Every encoder input size a training step of this batch shape can make, largest first."""
    return sorted({size for n in images_per_step(batch_size, frames, options) for size in call_sizes(n, chunk, pad_to)},
                  reverse=True)


class ChunkTunedEncoder(nn.Module):
    """The VAE encoder compiled twice for static shapes: calls of ``chunk`` images (every call of a
    step but its last, :func:`latent_moments`) with Inductor's coordinate-descent tuning, the
    other sizes without, so that a run tunes one input size rather than every size a step can
    make (seven at batch 4 of the ``stage2`` recipe, each taking minutes to tune)."""

    def __init__(self, encoder: nn.Module, chunk: int, backend="inductor"):
        super().__init__()
        self.chunk = chunk
        self.full, self.rest = _static(encoder, True, backend), _static(encoder, False, backend)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return (self.full if len(images) == self.chunk else self.rest)(images)


def compile_encoder(encoder: nn.Module, tuning: str, chunk: int, backend="inductor") -> nn.Module:
    """``encoder`` compiled for static shapes, its kernels tuned by coordinate descent for no call
    (``tuning="none"``), for calls of ``chunk`` images (``"full"``, :class:`ChunkTunedEncoder`) or
    for every call (``"all"``)."""
    return ChunkTunedEncoder(encoder, chunk, backend) if tuning == "full" else _static(encoder, tuning == "all", backend)


def _static(encoder: nn.Module, tuned: bool, backend) -> nn.Module:
    return torch.compile(encoder, backend=backend, dynamic=False, options={"coordinate_descent_tuning": tuned})


def precompile_encoder(vae: AutoencoderKL, batch: AA2Batch, options, chunk: int, pad_to: int = 0,
                       log: Callable[[str], None] | None = None) -> list[int]:
    """Run ``vae.encoder`` (compiled for static shapes) once on blank images of every size a step
    of this batch's shape can send it (:func:`encoder_call_sizes`), so that each compiles now
    rather than in the step that first needs it; returns the sizes. Under DDP a process compiling
    mid-run holds the others at the next all-reduce. ``log`` gets a line before the first size and
    one after each (compiling a size takes seconds to minutes, longer with tuning)."""
    sizes = encoder_call_sizes(len(batch.frames), batch.num_frames, options, chunk, pad_to)
    height, width = batch.frames.shape[-2:]
    log = log or (lambda message: None)
    log(f"VAE encoder: compiling {len(sizes)} input sizes ({', '.join(map(str, sizes))} images a call)")
    with torch.no_grad():
        for i, n in enumerate(sizes, 1):
            start = time.perf_counter()
            vae.encoder(torch.zeros(n, 3, height, width, device=batch.frames.device, dtype=vae.dtype))
            log(f"VAE encoder: {n} images a call compiled in {time.perf_counter() - start:.1f} s ({i}/{len(sizes)})")
    return sizes


def latent_moments(vae: AutoencoderKL, images: torch.Tensor, chunk: int = 16, pad_to: int = 0) -> torch.Tensor:
    """Images [N, 3, H, W] in [-1, 1] -> the encoder's Gaussian parameters [N, 2C, h, w], ``chunk`` a call.

    With ``pad_to`` the last call is padded (its last image repeated) up to a multiple of
    ``pad_to`` images, at most ``chunk``: a compiled encoder then sees at most ``chunk / pad_to``
    input shapes whatever N is, and wastes fewer than ``pad_to`` images a step. Inputs are made
    contiguous for the same reason (chunks of a permuted video differ in strides).
    """
    n = len(images)
    extra = sum(call_sizes(n, chunk, pad_to)) - n
    if extra:
        images = torch.cat([images, images[-1:].expand(extra, *images.shape[1:])])
    out = []
    for part in images.split(chunk):
        moments = vae.encoder(part.to(vae.dtype).contiguous())
        out.append(vae.quant_conv(moments) if vae.quant_conv is not None else moments)
    return torch.cat(out)[:n]


def to_latents(vae: AutoencoderKL, moments: torch.Tensor, sample: bool, generator=None) -> torch.Tensor:
    """Moments -> contiguous float32 latents, whatever the layout of the encoder's output (a
    compiled encoder may give channels-last): a compiled model guards on its inputs' strides."""
    dist = DiagonalGaussianDistribution(moments)
    latents = dist.sample(generator) if sample else dist.mode()
    return (latents * vae.config.scaling_factor).float().contiguous()


def _frames(video: torch.Tensor) -> torch.Tensor:
    """[B, C, F, H, W] -> [B*F, C, H, W]."""
    b, c, f, h, w = video.shape
    return video.permute(0, 2, 1, 3, 4).reshape(b * f, c, h, w)


def _video(flat: torch.Tensor, b: int) -> torch.Tensor:
    """[B*F, C, h, w] -> [B, C, F, h, w]."""
    return flat.reshape(b, -1, *flat.shape[1:]).permute(0, 2, 1, 3, 4)


def encode_video(vae: AutoencoderKL, video: torch.Tensor, sample: bool = False, generator=None,
                 chunk: int = 16) -> torch.Tensor:
    """[B, 3, F, H, W] in [-1, 1] -> latents [B, 4, F, H/8, W/8], in chunks of frames."""
    return _video(to_latents(vae, latent_moments(vae, _frames(video), chunk), sample, generator), len(video))


def object_frames(objects: torch.Tensor, object_mask: torch.Tensor, shown: torch.Tensor | None = None
                  ) -> tuple[torch.Tensor, torch.Tensor, bool]:
    """Object frames [B, 3, F, H, W] -> (the frames that show an object [k, 3, H, W], their indices
    in [B*F] on the frames' device, whether every frame shows one).

    A frame without object pixels is the constant image 0 (frames * mask), whose latent is the
    same for every such frame: it is encoded once (:func:`object_latents`). Clips without
    interacting objects (most dance videos) then cost one VAE image instead of F. ``shown`` (bool
    [B*F] on the host, :meth:`AA2Batch.shown_frames`) spares reading the mask back from the device.
    """
    if shown is None:
        shown = frames_showing(object_mask).cpu()
    index = shown.nonzero().flatten()
    everything = len(index) == len(shown)
    if objects.device.type == "cuda":
        index = index.pin_memory()  # copied without waiting for the stream's earlier work
    index = index.to(objects.device, non_blocking=True)
    return _frames(objects).index_select(0, index), index, everything


def object_latents(shown_latents: torch.Tensor, blank: torch.Tensor | None, index: torch.Tensor, b: int, f: int
                   ) -> torch.Tensor:
    """Latents of the shown frames (at ``index`` of [B*F]) and of the blank frame -> object latents
    [B, 4, F, h, w], laid out the same (contiguous [B*F, 4, h, w], permuted) with or without a blank."""
    size = shown_latents.shape[1:] if blank is None else blank.shape[1:]
    latents = shown_latents.new_empty(b * f, *size)
    if blank is not None:
        latents.copy_(blank.expand(b * f, *size))
    latents.index_copy_(0, index, shown_latents)
    return _video(latents, b)


def encode_objects(vae: AutoencoderKL, objects: torch.Tensor, object_mask: torch.Tensor) -> torch.Tensor:
    """Object frames [B, 3, F, H, W] -> latents, encoding only the frames that show an object."""
    frames, index, everything = object_frames(objects, object_mask)
    images = frames if everything else torch.cat([frames, torch.zeros_like(_frames(objects)[:1])])
    latents = to_latents(vae, latent_moments(vae, images), sample=False)
    blank = None if everything else latents[-1:]
    return object_latents(latents[: len(frames)], blank, index, len(objects), objects.shape[2])


def downsample_mask(mask: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """[B, 1, F, H, W] -> [B, 1, F, h, w]; a latent cell is masked if any of its pixels is."""
    b, _, f, h, w = mask.shape
    flat = mask.permute(0, 2, 1, 3, 4).reshape(b * f, 1, h, w)
    small = F.adaptive_max_pool2d(flat.float(), size)
    return small.reshape(b, f, 1, *size).permute(0, 2, 1, 3, 4)


def image_embeddings(encoder: CLIPVisionModelWithProjection, pixels: torch.Tensor) -> torch.Tensor:
    """CLIP-normalised [B, 3, 224, 224] -> projected image embedding as a one-token context [B, 1, D]."""
    return encoder(pixel_values=pixels.to(encoder.dtype)).image_embeds.unsqueeze(1).float()


@torch.no_grad()
def build_inputs(batch: AA2Batch, vae: AutoencoderKL, encoder: CLIPVisionModelWithProjection, options,
                 generator: torch.Generator | None = None, vae_chunk: int = 16, vae_pad_to: int = 0) -> ModelInputs:
    """Unpacked batch on the device -> :class:`ModelInputs` honouring the model's switches.

    Every image the step encodes (target frames, reference, environment frames, the frames that
    show objects and one blank frame) goes through the VAE encoder as one stack, ``vae_chunk``
    images a call (see :func:`latent_moments` for ``vae_pad_to``).

    The image encoder runs first, so that on a GPU its many small eager kernels queue while the
    GPU still runs the previous step's backward, and the VAE encoder's long kernels are what is
    queued while the host prepares the forward: launched last, the small kernels could fill the
    launch queue (a fixed number of launches) with only a few milliseconds of GPU work. On an H100
    the stage-2 step showed no such wait (its GPU idled only between kernels, BENCHMARKS.md); on
    an H200 the order's effect is not measured.
    """
    image_embeds = image_embeddings(encoder, batch.reference_clip)
    b = len(batch.frames)
    parts = {"target": _frames(batch.frames), "reference": batch.reference}
    if options.use_environment:
        parts["environment"] = _frames(batch.environment)
    if options.use_object:
        parts["objects"], index, everything = object_frames(batch.objects, batch.object_mask, batch.object_shown)
        if not everything:
            parts["blank"] = torch.zeros_like(batch.reference[:1])
    moments = latent_moments(vae, torch.cat(list(parts.values())), vae_chunk, vae_pad_to)
    moments = dict(zip(parts, moments.split([len(p) for p in parts.values()])))
    latents = _video(to_latents(vae, moments["target"], True, generator), b)
    size = tuple(latents.shape[-2:])
    objects = None
    if options.use_object:
        blank = to_latents(vae, moments["blank"], False) if "blank" in moments else None
        objects = object_latents(to_latents(vae, moments["objects"], False), blank, index, b, batch.num_frames)
    return ModelInputs(
        latents=latents,
        ref_latents=to_latents(vae, moments["reference"], False),
        image_embeds=image_embeds,
        env_latents=_video(to_latents(vae, moments["environment"], False), b) if options.use_environment else None,
        mask=downsample_mask(batch.mask, size) if options.use_environment else None,
        skeleton=batch.skeleton,
        struct_depth=batch.struct_depth if options.use_depth else None,
        object_latents=objects,
    )


def apply_dropout(inputs: ModelInputs, drop_reference: torch.Tensor, drop_embedding: torch.Tensor) -> ModelInputs:
    """Zero the reference latent / the image embedding of the samples whose flag [B] is True."""
    keep_ref = (~drop_reference).to(inputs.ref_latents.dtype)
    keep_emb = (~drop_embedding).to(inputs.image_embeds.dtype)
    inputs.ref_latents = inputs.ref_latents * keep_ref.view(-1, 1, 1, 1)
    inputs.image_embeds = inputs.image_embeds * keep_emb.view(-1, 1, 1)
    return inputs
