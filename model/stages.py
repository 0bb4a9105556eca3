"""Which parameters each training stage updates.

Stage 1 (image mode): ReferenceNet, the DenoisingNet's spatial layers and conv_in, the pose
modulation, the object guider and the spatial blends. Stage 2 (video mode): the AnimateDiff
temporal layers only. ReferenceNet parameters that run after its last bank write (the last
self-attention's projections, cross-attention, feed-forward, conv_out) cannot influence the
loss; they are left frozen so that no parameter of a trained group lacks a gradient (which DDP
would otherwise report as unused).

With a single image-embedding token (CLIP's pooled projection, [B, 1, D]), cross-attention's
softmax is over one key and is identically 1: to_q, to_k and norm2 of every attn2 then receive
an exactly-zero gradient. They are kept in the groups (zero-gradient steps leave them unchanged
except for weight decay); pass `weight_decay=0` for them or use several image tokens.
"""

from __future__ import annotations

from torch import nn

from .aa2 import AA2Model

STAGES = (1, 2)


def reference_dead_parameters(reference_unet: nn.Module) -> set[str]:
    """Names of ReferenceNet parameters that no reference token depends on."""
    last_level = len(reference_unet.up_blocks) - 1
    attentions = getattr(reference_unet.up_blocks[last_level], "attentions", None)
    if not attentions:
        raise ValueError("the ReferenceNet's last up block has no attention; its dead parameters are not known")
    last_attention = len(attentions) - 1
    last_block = len(attentions[last_attention].transformer_blocks) - 1
    transformer = f"up_blocks.{last_level}.attentions.{last_attention}."
    block = f"{transformer}transformer_blocks.{last_block}."
    dead_prefixes = (f"{transformer}proj_out.", "conv_norm_out.", "conv_out.")
    return {
        name for name, _ in reference_unet.named_parameters()
        if name.startswith(dead_prefixes) or (name.startswith(block) and not name.startswith(f"{block}norm1."))
    }


def parameter_groups(model: AA2Model, stage: int) -> dict[str, list[nn.Parameter]]:
    """Named groups of the parameters that `stage` trains (for per-group learning rates)."""
    if stage not in STAGES:
        raise ValueError(f"stage must be one of {STAGES}, got {stage}")
    if stage == 2:
        if not model.is_video:
            raise ValueError("stage 2 trains temporal layers; inflate the model to video mode first")
        return {"temporal": [p for n, p in model.denoising_unet.named_parameters() if ".motion_modules." in n]}
    dead = reference_dead_parameters(model.reference_unet)
    groups = {
        "reference_net": [p for n, p in model.reference_unet.named_parameters() if n not in dead],
        "denoising_spatial": [p for n, p in model.denoising_unet.named_parameters() if ".motion_modules." not in n],
        "conv_in": list(model.conv_in.parameters()),
        "pose_modulation": list(model.pose_modulation.parameters()),
        "object_guider": list(model.object_guider.parameters()) if model.object_guider is not None else [],
        "spatial_blend": list(model.object_blend.parameters()),
    }
    return {name: params for name, params in groups.items() if params}


def set_trainable(model: AA2Model, stage: int) -> dict[str, list[nn.Parameter]]:
    """Freeze everything, unfreeze the stage's groups, return them."""
    groups = parameter_groups(model, stage)
    model.requires_grad_(False)
    for params in groups.values():
        for param in params:
            param.requires_grad_(True)
    return groups
