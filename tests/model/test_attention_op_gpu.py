"""The attention custom op on a GPU, compiled with Inductor: each call runs the kernel the stock
call runs (cuDNN's without a mask, the memory-efficient kernel or cuDNN's under a mask by head
size) and gives the stock eager outputs and input gradients. Skipped without a CUDA GPU; on a
GPU machine: ``pytest -m gpu tests``."""

import pytest
import torch
from diffusers.models.attention_processor import Attention

from model.attention_op import fused_attention
from model.reference import attention_with_reference

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]


def _ops(fn) -> set[str]:
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        fn()
    return {event.key for event in prof.key_averages()}


def _run(fn, *inputs, autocast=True):
    inputs = [t.detach().clone().requires_grad_(True) for t in inputs]
    with torch.autocast("cuda", dtype=torch.bfloat16, enabled=autocast):
        out = fn(*inputs)
    weights = torch.randn(out.shape, device="cuda", generator=torch.Generator("cuda").manual_seed(3))
    (out.float() * weights).sum().backward()
    return [out.detach().float()] + [t.grad for t in inputs]


def _close(got, want):
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w, rtol=2e-2, atol=2e-2 * float(w.abs().max()))


@pytest.mark.parametrize("head_dim, masked, kernel", [(40, False, "cudnn"), (80, False, "cudnn"), (160, False, "cudnn"),
                                                      (40, True, "efficient"), (80, True, "cudnn"),
                                                      (160, True, "cudnn")])
def test_the_compiled_op_runs_the_stock_kernel_and_gives_the_stock_results(head_dim, masked, kernel):
    torch.manual_seed(0)
    attn = Attention(query_dim=8 * head_dim, heads=8, dim_head=head_dim, bias=True).cuda()
    # masked: 256 sequences of 16 frames packed 4 a row; unmasked: 8 rows of 1024 tokens
    x = torch.randn(*((256, 16) if masked else (8, 1024)), 8 * head_dim, device="cuda")
    pack = 4 if masked else 1

    def run(x):
        return attention_with_reference(attn, x, None, pack)

    want = _run(run, x)  # eager: the stock kernel call
    with fused_attention():
        compiled = torch.compile(run, fullgraph=True)
        got = _run(compiled, x)
        ops = _ops(lambda: _run(compiled, x))
    assert "aa2::attention" in ops and f"aten::_scaled_dot_product_{kernel}_attention" in ops, \
        sorted(o for o in ops if "attention" in o)
    _close(got, want)


def test_float32_attention_compiles_as_the_stock_call():
    """The op has no float32 kernel: a compiled float32 model keeps the stock call and its results."""
    torch.manual_seed(0)
    attn = Attention(query_dim=320, heads=8, dim_head=40, bias=True).cuda()
    x = torch.randn(8, 1024, 320, device="cuda")

    def run(x):
        return attention_with_reference(attn, x, None)

    want = _run(run, x, autocast=False)
    with fused_attention():
        compiled = torch.compile(run, fullgraph=True)
        got = _run(compiled, x, autocast=False)
        ops = _ops(lambda: _run(compiled, x, autocast=False))
    assert "aa2::attention" not in ops and any(o.startswith("aten::_scaled_dot_product") for o in ops), sorted(ops)
    _close(got, want)
