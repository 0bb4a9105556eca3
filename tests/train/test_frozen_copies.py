"""Frozen layers computing from weights cast once: the same results as autocast's casts, float32
weights kept for checkpoints, trained layers left alone."""

import pickle

import pytest
import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from train.frozen_copies import BIAS, WEIGHT, attach_low_precision_copies, refresh_low_precision_copies


def _net():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(4, 8, 3, padding=1), nn.SiLU(), nn.Identity(),
                        nn.Flatten(), nn.Linear(8 * 6 * 6, 16), nn.GELU(), nn.Linear(16, 4, bias=False), nn.Linear(4, 3))
    net.requires_grad_(False)
    net[7].requires_grad_(True)  # the last layer trains, the rest is frozen
    return net


def _run(net, x, autocast=True):
    x = x.clone().requires_grad_(True)
    with torch.autocast("cpu", torch.bfloat16, enabled=autocast):
        out = net(x)
    out.float().square().sum().backward()
    inner = getattr(net, "_orig_mod", getattr(net, "module", net))  # compiled or DDP-wrapped
    return out, x.grad, inner[7].weight.grad


@pytest.mark.parametrize("compiled", [False, True])
def test_copies_give_autocasts_results_and_gradients(compiled):
    x = torch.randn(2, 4, 6, 6)
    stock, copied = _net(), _net()
    names = attach_low_precision_copies(copied, torch.bfloat16, channels_last=True)
    assert names == [f"0.{WEIGHT}", f"0.{BIAS}", f"4.{WEIGHT}", f"4.{BIAS}", f"6.{WEIGHT}"]
    assert copied[0].weight_compute_copy.is_contiguous(memory_format=torch.channels_last)
    assert type(copied[7]) is nn.Linear  # trained: no copy
    run = torch.compile(copied, fullgraph=True) if compiled else copied
    for a, b in zip(_run(stock, x), _run(run, x)):
        assert a.dtype == b.dtype and torch.equal(a, b)


def test_without_autocast_the_float32_weights_compute():
    x = torch.randn(2, 4, 6, 6)
    stock, copied = _net(), _net()
    attach_low_precision_copies(copied, torch.bfloat16)
    a, b = _run(stock, x, autocast=False)[0], _run(copied, x, autocast=False)[0]
    assert b.dtype == torch.float32 and torch.equal(a, b)


def test_state_dict_keeps_the_float32_weights_and_refresh_follows_loaded_ones():
    copied = _net()
    keys = set(copied.state_dict())
    attach_low_precision_copies(copied, torch.bfloat16)
    assert set(copied.state_dict()) == keys
    assert all(v.dtype == torch.float32 for v in copied.state_dict().values())
    other = {k: v + 1 for k, v in copied.state_dict().items()}
    copied.load_state_dict(other)
    assert not torch.equal(copied[4].weight_compute_copy, other["4.weight"].bfloat16())
    assert refresh_low_precision_copies(copied) == 3
    assert torch.equal(copied[4].weight_compute_copy, other["4.weight"].bfloat16())
    assert torch.equal(copied[0].bias_compute_copy, other["0.bias"].bfloat16())


def test_under_autocast_the_copies_compute_and_not_the_weights():
    x = torch.randn(2, 4, 6, 6)
    copied = _net()
    attach_low_precision_copies(copied, torch.bfloat16)
    before, plain = _run(copied, x)[0], _run(copied, x, autocast=False)[0]
    copied[4].weight_compute_copy.zero_()
    assert not torch.equal(_run(copied, x)[0], before)
    assert torch.equal(_run(copied, x, autocast=False)[0], plain)
    with torch.autocast("cpu", torch.float16):  # another dtype than the copies': the weights compute
        assert torch.equal(copied(x), _net()(x))


def test_ddp_neither_broadcasts_nor_checks_the_copies(tmp_path):
    """Each process makes its own copies; DDP would otherwise broadcast them before every forward."""
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'group'}", rank=0, world_size=1)
    try:
        net = _net()
        names = attach_low_precision_copies(net, torch.bfloat16)
        ddp = DistributedDataParallel(net)
        assert set(names) <= ddp.parameters_to_ignore
        assert ddp.modules_buffers == []  # the network has no buffers but the copies
        stock = _net()
        for a, b in zip(_run(stock, torch.ones(2, 4, 6, 6)), _run(ddp, torch.ones(2, 4, 6, 6))):
            assert torch.equal(a, b)
    finally:
        dist.destroy_process_group()


def test_layers_with_copies_pickle():
    net = _net()
    attach_low_precision_copies(net, torch.bfloat16)
    again = pickle.loads(pickle.dumps(net))
    assert type(again[0]) is type(net[0]) and torch.equal(again[0].weight_compute_copy, net[0].weight_compute_copy)


@pytest.mark.parametrize("conv, shape", [(nn.Conv1d, (2, 4, 9)), (nn.Conv3d, (2, 4, 3, 5, 5))])
def test_1d_and_3d_convolutions_compute_from_their_copies_as_autocast_would(conv, shape):
    torch.manual_seed(0)
    stock = conv(4, 6, 3, padding=1).requires_grad_(False)
    copied = conv(4, 6, 3, padding=1).requires_grad_(False)
    copied.load_state_dict(stock.state_dict())
    assert attach_low_precision_copies(copied, torch.bfloat16, channels_last=True) == [WEIGHT, BIAS]
    assert copied.weight_compute_copy.is_contiguous()  # only 2D convolutions are laid out channels-last
    x = torch.randn(shape)
    with torch.autocast("cpu", torch.bfloat16):
        assert torch.equal(copied(x), stock(x))
        copied.bias_compute_copy.zero_()
        assert not torch.equal(copied(x), stock(x))
