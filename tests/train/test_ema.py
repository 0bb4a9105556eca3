"""The one-pass EMA follows diffusers' EMAModel step for step and checkpoints alike."""

import torch
from diffusers.training_utils import EMAModel

from train.ema import LerpEMAModel


def _params(seed: int) -> list[torch.nn.Parameter]:
    g = torch.Generator().manual_seed(seed)
    params = [torch.nn.Parameter(torch.randn(shape, generator=g)) for shape in [(7, 5), (3,), (2, 4, 4)]]
    params[1].requires_grad_(False)  # a frozen weight is copied, not averaged
    return params


def test_lerp_ema_matches_diffusers_ema_over_steps_with_warmup():
    params = _params(0)
    kw = dict(decay=0.9, min_decay=0.0, update_after_step=1, use_ema_warmup=True, inv_gamma=1.0, power=0.75)
    ours, theirs = LerpEMAModel(params, **kw), EMAModel(params, foreach=True, **kw)
    start = [s.clone() for s in ours.shadow_params]
    g = torch.Generator().manual_seed(1)
    for _ in range(6):
        with torch.no_grad():
            for p in params:
                p.add_(torch.randn(p.shape, generator=g))
        ours.step(params)
        theirs.step(params)
        assert ours.cur_decay_value == theirs.cur_decay_value
        for a, b in zip(ours.shadow_params, theirs.shadow_params):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    # averaged weights moved but lag the weights; the frozen one is copied as it is
    assert not torch.allclose(ours.shadow_params[0], start[0])
    assert not torch.allclose(ours.shadow_params[0], params[0])
    torch.testing.assert_close(ours.shadow_params[1], params[1].detach())


def test_lerp_ema_state_dict_loads_into_diffusers_ema():
    params = _params(2)
    ours = LerpEMAModel(params, decay=0.5, update_after_step=0)
    with torch.no_grad():
        params[0].mul_(3.0)
    ours.step(params)
    theirs = EMAModel(_params(3), decay=0.5, update_after_step=0)
    theirs.load_state_dict(ours.state_dict())
    assert theirs.optimization_step == ours.optimization_step == 1
    for a, b in zip(ours.shadow_params, theirs.shadow_params):
        torch.testing.assert_close(a, b)
