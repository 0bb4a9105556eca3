"""Training recipes: nested dicts of TrainConfig fields, completed by a YAML file and overrides.

They are dicts rather than configs because a recipe may leave required fields (shard paths,
weight folders) to the user; the config validates once everything is filled in.

- ``stage1``: image mode, 512x512; trains ReferenceNet, the DenoisingNet's spatial layers, pose
  modulation and the object guider from Stable Diffusion 1.5 weights.
- ``stage2``: video mode, 512x512x16 frames; trains the AnimateDiff temporal layers only,
  starting from the stage-1 export (``model.init_from``) and a motion module. A step at batch 1
  encodes 34-49 images (16 target and 16 environment frames, the reference, the 0-16 frames that
  show objects or one blank frame): one VAE call of up to 49, padded to a multiple of 7.
- ``tiny``: a small random model on the CPU, minutes on two cores (the demo, the tests).
"""

from __future__ import annotations


def stage1() -> dict:
    return {
        "stage": 1,
        "max_steps": 30_000,
        "mixed_precision": "bf16",
        "model": {"arch": "pretrained", "gradient_checkpointing": True},
        "data": {"batch_size": 4, "num_workers": 6, "batches_per_epoch": 5000,
                 "sample": {"mode": "image", "height": 512, "width": 512}},
        "optim": {"lr": 1e-5, "warmup_steps": 500},
        "ema": {"enabled": True, "decay": 0.9999},
        "checkpoint": {"every_steps": 1000, "keep_last": 3},
        "log": {"every_steps": 20, "val_every_steps": 1000},
    }


def stage2() -> dict:
    return {
        "stage": 2,
        "max_steps": 20_000,
        "mixed_precision": "bf16",
        "model": {"arch": "pretrained", "gradient_checkpointing": True, "vae_chunk": 49, "vae_pad_to": 7},
        "data": {"batch_size": 1, "num_workers": 8, "batches_per_epoch": 5000,
                 "sample": {"mode": "video", "num_frames": 16, "stride": 4, "height": 512, "width": 512}},
        "optim": {"lr": 1e-5, "warmup_steps": 500},
        "ema": {"enabled": True, "decay": 0.9999},
        "checkpoint": {"every_steps": 1000, "keep_last": 3},
        "log": {"every_steps": 20, "val_every_steps": 1000},
    }


def tiny() -> dict:
    return {
        "stage": 1,
        "max_steps": 120,
        "mixed_precision": "no",
        "cpu": True,
        "model": {"arch": "tiny"},
        "data": {"batch_size": 4, "num_workers": 1, "batches_per_epoch": 40, "shuffle_buffer": 16,
                 "sample": {"mode": "image", "height": 64, "width": 64}},
        "diffusion": {"noise_offset": 0.0, "reference_dropout": 0.1, "image_embed_dropout": 0.1},
        "optim": {"lr": 1e-3, "warmup_steps": 10, "max_grad_norm": 1.0},
        "ema": {"enabled": True, "decay": 0.95},
        "checkpoint": {"every_steps": 60, "keep_last": 2},
        "log": {"every_steps": 10, "tracker": "tensorboard", "val_every_steps": 120, "val_inference_steps": 10,
                "val_guidance": 2.0},
    }


RECIPES = {"stage1": stage1, "stage2": stage2, "tiny": tiny}


def recipe(name: str) -> dict:
    try:
        return RECIPES[name]()
    except KeyError:
        raise ValueError(f"unknown recipe {name!r}; choose one of {sorted(RECIPES)}") from None
