"""Object guider, spatial blending and pose modulation as separate modules."""

from __future__ import annotations

import torch

from model.blending import ObjectGuider, SpatialBlend, decoder_layer_scale
from model.pose import PoseModulation


def test_object_guider_gives_one_map_per_decoder_scale():
    guider = ObjectGuider(4, (8, 16, 16, 32), (320, 640, 1280, 1280))
    features = guider(torch.randn(2, 4, 64, 48))
    assert [tuple(f.shape) for f in features] == [(2, 320, 64, 48), (2, 640, 32, 24), (2, 1280, 16, 12),
                                                   (2, 1280, 8, 6)]
    assert decoder_layer_scale("mid_block.attentions.0.transformer_blocks.0.attn1", 4) == 3
    assert decoder_layer_scale("up_blocks.3.attentions.2.transformer_blocks.0.attn1", 4) == 0


def test_blend_is_identity_at_init_and_follows_alpha():
    blend = SpatialBlend(channels=8, scale=1)
    tokens = torch.randn(3, 6 * 5, 8)
    objects = (None, torch.randn(3, 8, 6, 5))
    assert torch.equal(blend(tokens, objects), tokens)
    with torch.no_grad():
        blend.gate.fill_(1.0)
        blend.alpha_conv.bias.fill_(30.0)  # sigmoid = 1: the object features replace the tokens
    replaced = blend(tokens, objects)
    torch.testing.assert_close(replaced, objects[1].flatten(2).transpose(1, 2))
    with torch.no_grad():
        blend.alpha_conv.bias.fill_(0.0)  # alpha = 0.5: the mean of both
    torch.testing.assert_close(blend(tokens, objects), (tokens + replaced) / 2)


def perturbed_pose(use_depth: bool) -> PoseModulation:
    torch.manual_seed(0)
    pose = PoseModulation(out_channels=12, widths=(4, 8, 8, 16), heads=2, use_depth=use_depth)
    with torch.no_grad():
        pose.conv_out.weight.normal_(0, 0.1)
    return pose


def test_pose_modulation_starts_at_zero_and_has_latent_resolution():
    pose = PoseModulation(out_channels=12, widths=(4, 8, 8, 16), heads=2, use_depth=True)
    out = pose(torch.randn(2, 3, 5, 64, 32), torch.randn(2, 1, 5, 64, 32))
    assert out.shape == (2 * 5, 12, 8, 4)
    assert not out.any()


def test_temporal_conv_mixes_neighbouring_frames_only():
    pose = perturbed_pose(use_depth=False).eval()
    skeleton = torch.randn(1, 3, 5, 32, 32)
    changed = skeleton.clone()
    changed[:, :, 0] += 1.0
    with torch.no_grad():
        diff = (pose(skeleton) - pose(changed)).abs().flatten(1).amax(1)
    assert diff[0] > 0 and diff[1] > 0  # frame 1 sees frame 0 through the 3-frame kernel
    assert diff[3] == 0 and diff[4] == 0


def test_depth_changes_the_features_through_cross_attention():
    pose = perturbed_pose(use_depth=True).eval()
    skeleton, depth = torch.randn(1, 3, 2, 32, 32), torch.randn(1, 1, 2, 32, 32)
    with torch.no_grad():
        assert not torch.allclose(pose(skeleton, depth), pose(skeleton, depth * 2 + 1))
