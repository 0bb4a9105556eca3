"""Typed switches of the AA2 network: which conditioning paths exist and how they are sized.

The ablations of the paper (reference fusion scope, environment input, depth in the pose
modulation, object guider with spatial blending) are fields here, so a recipe turns a path off
by configuration and the network is then built without that path's parameters.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

FUSION_SCOPES = ("mid_up", "all")


@dataclass(frozen=True)
class AA2Options:
    """Switches and sizes of the parts that AA2 adds to the Stable Diffusion UNet."""

    reference_fusion: str = "mid_up"
    """Where ReferenceNet tokens join the DenoisingNet self-attention: "mid_up" (the paper) or "all"."""
    use_environment: bool = True
    """Concatenate the environment latent (4 ch) and the downsampled mask (1 ch) to the noisy latent."""
    use_depth: bool = True
    """Merge structured-depth features into the skeleton features by cross-attention."""
    use_object: bool = True
    """Build the object guider and the spatial blending after the decoder's self-attention."""
    pose_channels: tuple[int, ...] = (16, 32, 64, 128)
    """Pose-guider widths; each step after the first halves the resolution (Animate Anyone's guider)."""
    pose_attention_heads: int = 8
    """Heads of the depth-to-skeleton cross-attention (on the last pose-guider width)."""
    object_channels: tuple[int, ...] = (64, 128, 256, 256)
    """Object-guider trunk widths, one per decoder scale from the latent resolution down."""

    def __post_init__(self) -> None:
        if self.reference_fusion not in FUSION_SCOPES:
            raise ValueError(f"reference_fusion must be one of {FUSION_SCOPES}, got {self.reference_fusion!r}")
        if len(self.pose_channels) != 4:
            raise ValueError("pose_channels needs four widths: three stride-2 steps reach latent resolution (/8)")
        if self.pose_channels[-1] % self.pose_attention_heads:
            raise ValueError("pose_channels[-1] must be divisible by pose_attention_heads")
        if any(c <= 0 for c in (*self.pose_channels, *self.object_channels)):
            raise ValueError("channel widths must be positive")
        # JSON round trips turn tuples into lists; keep the frozen value hashable and comparable.
        object.__setattr__(self, "pose_channels", tuple(self.pose_channels))
        object.__setattr__(self, "object_channels", tuple(self.object_channels))

    @property
    def in_channels(self) -> int:
        """Input channels of the DenoisingNet's conv_in: noisy latent, then environment and mask."""
        return 9 if self.use_environment else 4

    def to_dict(self) -> dict:
        return asdict(self)
