"""Motion-module attention packed on a GPU: each head size runs the masked kernel chosen for it
(wide heads cuDNN's) and gives the stock results, eager and compiled. Skipped without a CUDA GPU; on a GPU machine: ``pytest -m gpu tests``."""

import pytest
import torch
from diffusers.models.attention_processor import Attention, AttnProcessor2_0

from model.temporal import PackedTemporalAttnProcessor

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]


def _run(attn: Attention, processor, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
    x = x.clone().requires_grad_(True)
    with torch.autocast("cuda", dtype=torch.bfloat16):
        out = processor(attn, x)
    weights = torch.randn(out.shape, device=x.device, generator=torch.Generator(x.device).manual_seed(3))
    (out.float() * weights).sum().backward()
    grads = (out.detach().float(), x.grad, attn.to_q.weight.grad.clone(), attn.to_v.weight.grad.clone())
    attn.zero_grad(set_to_none=True)
    return grads


def _ops(fn) -> set[str]:
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        fn()
    return {event.key for event in prof.key_averages()}


@pytest.mark.parametrize("head_dim, kernel", [(40, "efficient"), (80, "cudnn"), (160, "cudnn")])
def test_packed_heads_run_the_chosen_masked_kernel_and_give_the_stock_results(head_dim, kernel):
    torch.manual_seed(0)
    attn = Attention(query_dim=8 * head_dim, heads=8, dim_head=head_dim, bias=True).cuda()
    x = torch.randn(256, 16, 8 * head_dim, device="cuda")  # 256 sequences of 16 frames
    packed = PackedTemporalAttnProcessor(max_head_dim=160)
    assert packed.pack(attn, x) == 4
    ops = _ops(lambda: _run(attn, packed, x))
    assert f"aten::_scaled_dot_product_{kernel}_attention" in ops, sorted(o for o in ops if "attention" in o)
    want = _run(attn, AttnProcessor2_0(), x)
    for got in (_run(attn, packed, x), _run(attn, torch.compile(packed, fullgraph=True), x)):
        for g, w in zip(got, want):
            torch.testing.assert_close(g, w, rtol=2e-2, atol=2e-2 * float(w.abs().max()))
