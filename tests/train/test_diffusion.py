"""The diffusion objective: config checks, zero terminal SNR, targets, min-SNR weights."""

import pytest
import torch

from train.diffusion import (
    DiffusionConfig,
    build_scheduler,
    diffusion_loss,
    drop_mask,
    sample_noise,
    training_target,
)


def test_zero_snr_with_epsilon_is_refused():
    with pytest.raises(ValueError, match="v_prediction"):
        DiffusionConfig(prediction_type="epsilon", zero_terminal_snr=True)
    with pytest.raises(ValueError, match="reference_dropout"):
        DiffusionConfig(reference_dropout=1.5)


def test_zero_terminal_snr_makes_last_step_pure_noise():
    sched = build_scheduler(DiffusionConfig())
    assert sched.alphas_cumprod[-1].item() == pytest.approx(0.0, abs=1e-7)
    latents, noise = torch.randn(2, 4, 3, 8, 8), torch.randn(2, 4, 3, 8, 8)
    t = torch.tensor([999, 999])
    torch.testing.assert_close(sched.add_noise(latents, noise, t), noise, atol=1e-4, rtol=0)
    # v = alpha * noise - sigma * x0 = -x0 at the terminal step
    torch.testing.assert_close(training_target(sched, latents, noise, t), -latents, atol=1e-4, rtol=0)
    plain = build_scheduler(DiffusionConfig(prediction_type="epsilon", zero_terminal_snr=False))
    assert plain.alphas_cumprod[-1].item() > 1e-3


def test_min_snr_weighting_downweights_easy_timesteps():
    sched = build_scheduler(DiffusionConfig(prediction_type="epsilon", zero_terminal_snr=False))
    pred, target = torch.ones(2, 4, 8, 8), torch.zeros(2, 4, 8, 8)
    t_easy, t_hard = torch.tensor([10, 10]), torch.tensor([900, 900])
    plain = diffusion_loss(sched, pred, target, t_easy, None)
    assert plain.item() == pytest.approx(1.0)
    easy = diffusion_loss(sched, pred, target, t_easy, 5.0)
    hard = diffusion_loss(sched, pred, target, t_hard, 5.0)
    assert easy.item() < 0.1 and hard.item() == pytest.approx(1.0)  # SNR(900) < 5: weight 1


def test_noise_offset_is_constant_per_channel():
    latents = torch.zeros(64, 2, 4, 16, 16)
    g = torch.Generator().manual_seed(0)
    noise = sample_noise(latents, 0.5, g)
    channel_means = noise.mean(dim=(2, 3, 4))
    assert channel_means.std().item() > 0.3  # offsets of std 0.5 dominate per-channel means
    assert sample_noise(latents, 0.0, torch.Generator().manual_seed(0)).mean(dim=(2, 3, 4)).std() < 0.05


def test_drop_mask_rate():
    g = torch.Generator().manual_seed(0)
    assert not drop_mask(100, 0.0, "cpu", g).any()
    assert 0.15 < drop_mask(4000, 0.2, "cpu", g).float().mean().item() < 0.25
