"""Cross-attention over one frozen context token (the image embedding) computed from its value alone."""

import pytest
import torch
from diffusers.models.attention_processor import Attention, AttnProcessor2_0

from model.reference import ConditionedAttnProcessor, attends_to_one_frozen_key


def _cross(frozen: bool = True) -> Attention:
    torch.manual_seed(0)
    attn = Attention(query_dim=32, cross_attention_dim=12, heads=4, dim_head=8, bias=True)
    for module in (attn.to_q, attn.to_k):
        module.requires_grad_(not frozen)
    return attn


def _run(attn: Attention, processor, x: torch.Tensor, context: torch.Tensor):
    """Output, the input's gradient and the value and output projections' gradients."""
    calls = []
    hook = attn.to_q.register_forward_hook(lambda *_: calls.append("to_q"))
    x = x.clone().requires_grad_(True)
    out = processor(attn, x, context)
    hook.remove()
    (out * torch.randn(out.shape, generator=torch.Generator().manual_seed(3))).sum().backward()
    x_grad = torch.zeros_like(x) if x.grad is None else x.grad  # None: the output does not depend on x
    grads = (out.detach(), x_grad, attn.to_v.weight.grad.clone(), attn.to_out[0].weight.grad.clone())
    attn.zero_grad(set_to_none=True)
    return grads, calls


def test_one_frozen_key_gives_the_stock_output_and_gradients_without_scoring_the_queries():
    attn = _cross(frozen=True)
    x, context = torch.randn(6, 20, 32), torch.randn(6, 1, 12)
    (got, calls), (want, stock_calls) = (_run(attn, p, x, context) for p in (ConditionedAttnProcessor(), AttnProcessor2_0()))
    assert calls == [] and stock_calls == ["to_q"]  # the queries are not even projected
    # the input's gradient through one key is zero (up to the stock backward's rounding); the weights'
    # gradients sum the same terms over the queries in another order
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
    assert torch.count_nonzero(got[1]) == 0 and want[1].abs().max() < 1e-6


@pytest.mark.parametrize("tokens, frozen, grad, why", [
    (2, True, True, "two context tokens"),
    (1, False, True, "the query and key weights want gradients"),
])
def test_other_cross_attention_runs_the_stock_way(tokens, frozen, grad, why):
    attn = _cross(frozen)
    x, context = torch.randn(6, 20, 32), torch.randn(6, tokens, 12)
    assert not attends_to_one_frozen_key(attn, x, context, None), why
    (got, calls), (want, _) = (_run(attn, p, x, context) for p in (ConditionedAttnProcessor(), AttnProcessor2_0()))
    assert calls == ["to_q"]
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_trainable_weights_without_gradients_wanted_take_the_one_key_way():
    attn = _cross(frozen=False)
    x, context = torch.randn(6, 20, 32), torch.randn(6, 1, 12)
    assert not attends_to_one_frozen_key(attn, x, context, None)  # training them
    with torch.no_grad():  # sampling
        assert attends_to_one_frozen_key(attn, x, context, None)
        torch.testing.assert_close(ConditionedAttnProcessor()(attn, x, context), AttnProcessor2_0()(attn, x, context),
                                   rtol=1e-5, atol=1e-6)
    assert not attends_to_one_frozen_key(attn, x, context, torch.ones(6, 1, 20, 1, dtype=torch.bool))  # a mask
    attn.train()
    attn.to_out[1].p = 0.1
    with torch.no_grad():
        assert not attends_to_one_frozen_key(attn, x, context, None)  # dropout draws a mask for every query
