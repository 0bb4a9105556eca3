"""One clip -> one training sample: every condition of Animate Anyone 2, aligned pixel for pixel.

Order of operations (all randomness from the one ``rng`` passed in, in a fixed order):
1. pick the target frames (stride) and the reference frame (whole clip); decode only those;
2. one crop window around the character, resized to the output size, applied to frames,
   masks, keypoints and depth alike;
3. Mf from the character mask (random k_h, k_w in training; h/10, w/10 otherwise);
   environment = frames * (1 - Mf), taken *before* the scale augmentation;
4. sometimes (training) the character + objects are scaled about the bottom of the character
   box and pasted back, so the target's character can be larger than Mf;
5. objects = target frames * object masks; skeleton images from the keypoints; structured depth
   = depth inside the binarised skeleton;
6. the reference character, centre-cropped onto a random background, and its 224 x 224 view.

The sample stays compact (uint8, channels last); :mod:`dataset.batch` turns it into tensors.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .agnostic_mask import shape_agnostic_masks
from .crop import choose_window, crop_images, crop_keypoints, crop_nearest, mask_box
from .clip_frames import ClipFrames, decode_frames, frames_of
from .frame_select import frame_indices, reference_index
from .reference import clip_view, reference_image
from .sample_config import SampleConfig
from .scale_aug import Layers, anchor_point, scale_layers
from .schema import ClipMeta, ClipSample, SampleDecodeError, decode_meta
from .skeleton_render import render_skeletons
from .stage_timer import NULL_TIMER
from .struct_depth import structured_depth



@dataclass
class TrainingSample:
    """F frames of H x W. uint8 images are RGB in 0..255; masks are bool."""

    key: str
    frames: np.ndarray  # uint8 [F, H, W, 3] target (after scale augmentation)
    environment: np.ndarray  # uint8 [F, H, W, 3] frames before augmentation, 0 under Mf
    mask: np.ndarray  # bool [F, H, W] shape-agnostic mask Mf
    character: np.ndarray  # bool [F, H, W] character mask of the target frames
    objects: np.ndarray  # uint8 [F, H, W, 3] target frames inside the object masks, 0 elsewhere
    object_mask: np.ndarray  # bool [F, H, W] union of the object masks
    skeleton: np.ndarray  # uint8 [F, H, W, 3]
    struct_depth: np.ndarray  # uint8 [F, H, W]: structured depth in [0, 1] times 255
    reference: np.ndarray  # uint8 [H, W, 3]
    reference_clip: np.ndarray  # uint8 [224, 224, 3]
    frame_indices: np.ndarray  # int64 [F] positions in the clip
    scale: float  # 1.0 when the scale augmentation did not run


def pick_indices(meta: ClipMeta, config: SampleConfig, rng: np.random.Generator, key: str = "") -> np.ndarray:
    """Target frame indices followed by the reference frame's index (the first draws of ``rng``)."""
    try:
        idx = frame_indices(meta.num_frames, config.frames_per_sample, config.stride, rng)
    except ValueError as exc:
        raise SampleDecodeError(key, "mp4", str(exc)) from exc
    return np.append(idx, reference_index(meta.num_frames, rng))


def _crop(cf: ClipFrames, n: int, config: SampleConfig, rng) -> Layers:
    hw, out = (cf.meta.height, cf.meta.width), config.size
    box = mask_box(cf.character[:n])
    if config.train:
        win = choose_window(hw, out, box, rng, config.crop_zoom, config.crop_margin, config.crop_jitter)
    else:
        win = choose_window(hw, out, box, None, (1.0, 1.0), config.crop_margin)
    return Layers(
        frames=crop_images(cf.frames[:n], win, out),
        character=crop_nearest(cf.character[:n], win, out),
        objects=crop_nearest(cf.objects[:n], win, out),
        keypoints=crop_keypoints(cf.keypoints[:n], win, out),
        depth=crop_nearest(cf.depth[:n], win, out, frame_hw=hw),
    )


def _masked(images: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """Zero outside ``keep`` (unpacking the batch multiplies by the mask again, to the same end)."""
    out = np.zeros_like(images)
    for image, k, o in zip(images, keep, out):
        cv2.copyTo(image, k.view(np.uint8), o)  # in place into ``out``; much faster than np.where
    return out


def _maybe_scale(layers: Layers, config: SampleConfig, rng) -> tuple[Layers, float]:
    if not config.train:
        return layers, 1.0
    draw, scale = rng.random(), float(rng.uniform(*config.scale_range))
    if draw >= config.scale_prob or scale == 1.0:
        return layers, 1.0
    return scale_layers(layers, scale, anchor_point(layers.character)), scale


def build_sample(clip: ClipSample, config: SampleConfig, rng: np.random.Generator,
                 timer=NULL_TIMER) -> TrainingSample:
    """Every condition for one decoded clip; :class:`SampleDecodeError` for unusable clips.

    ``timer`` (a :class:`~dataset.stage_timer.StageTimer`) collects time per stage.
    """
    indices = pick_indices(clip.meta, config, rng, clip.key)
    with timer("decode_video"):
        cf = frames_of(clip, indices)
    return assemble(cf, config, rng, timer)


def build_sample_raw(raw: dict, config: SampleConfig, rng: np.random.Generator, timer=NULL_TIMER) -> TrainingSample:
    """The same straight from a raw shard sample, decoding only the frames used (what the
    stream does). Equal to ``build_sample(decode_sample(raw), ...)`` for the same ``rng``."""
    with timer("decode_members"):
        meta = decode_meta(raw)
    indices = pick_indices(meta, config, rng, str(raw["__key__"]))
    cf = decode_frames(raw, meta, indices, timer)
    return assemble(cf, config, rng, timer)


def assemble(cf: ClipFrames, config: SampleConfig, rng: np.random.Generator, timer=NULL_TIMER) -> TrainingSample:
    """Steps 2-6 on decoded frames: ``cf`` holds the target frames, then the reference frame."""
    n = len(cf.indices) - 1
    with timer("crop_resize"):
        layers = _crop(cf, n, config, rng)
    with timer("agnostic_mask"):
        mf = shape_agnostic_masks(layers.character, rng if config.train else None, config.max_blocks)
        environment = _masked(layers.frames, ~mf)
    with timer("scale_augmentation"):
        target, scale = _maybe_scale(layers, config, rng)
    with timer("skeleton_render"):
        skeleton = render_skeletons(target.keypoints, cf.meta.keypoint_format, config.size, config.min_score)
    with timer("structured_depth"):
        depth01 = structured_depth(target.depth, skeleton)
    with timer("objects_reference"):
        object_mask = target.objects.any(axis=1)
        objects = _masked(target.frames, object_mask)
        reference = reference_image(cf.frames[n], cf.character[n], config.size, rng, config.reference_margin)
        reference_clip = clip_view(reference)
    return TrainingSample(
        key=cf.key,
        frames=target.frames,
        environment=environment,
        mask=mf,
        character=target.character,
        objects=objects,
        object_mask=object_mask,
        skeleton=skeleton,
        struct_depth=np.rint(depth01 * 255).astype(np.uint8),
        reference=reference,
        reference_clip=reference_clip,
        frame_indices=cf.indices[:n],
        scale=scale,
    )
