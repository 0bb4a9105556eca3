"""The attention custom op (:mod:`model.attention_op`): the stock arithmetic over 3-D tensors,
forward and backward, and, inside a compiled graph, in place of the 4-D kernel call."""

import pytest
import torch
import torch.nn.functional as F
from diffusers.models.attention_processor import Attention
from torch._dynamo.backends.common import aot_autograd
from torch._functorch.aot_autograd import make_boxed_func
from torch._inductor.decomposition import select_decomp_table
from torch._subclasses.fake_tensor import FakeTensorMode

from model.attention_op import CUDNN, EFFICIENT, attention, backend_for, fused_attention
from model.reference import ConditionedAttnProcessor, attention_with_reference


def _heads(t, heads):
    return t.unflatten(-1, (heads, -1)).transpose(1, 2)


@pytest.mark.parametrize("masked, keys", [(False, 16), (False, 24), (True, 16)])
def test_the_op_gives_the_stock_outputs_and_gradients(masked, keys):
    g = torch.Generator().manual_seed(0)
    q = torch.randn(3, 16, 32, generator=g, requires_grad=True)
    k, v = (torch.randn(3, keys, 32, generator=g, requires_grad=True) for _ in range(2))
    mask = torch.arange(16)[:, None] // 4 == torch.arange(keys)[None] // 4 if masked else None
    out = attention(q, k, v, 4, mask)
    stock = F.scaled_dot_product_attention(_heads(q, 4), _heads(k, 4), _heads(v, 4), attn_mask=mask)
    torch.testing.assert_close(out, stock.transpose(1, 2).flatten(2))
    weights = torch.randn(out.shape, generator=g)
    for got, want in zip(torch.autograd.grad(out, (q, k, v), weights),
                         torch.autograd.grad(stock.transpose(1, 2).flatten(2), (q, k, v), weights)):
        torch.testing.assert_close(got, want)


def _traced(fn, *inputs):
    """(output, gradients of the inputs, ops of the forward graph) of ``fn`` compiled as Inductor
    traces it (AOTAutograd with its decompositions), the graphs run as traced."""
    ops = set()

    def forward(gm, _):
        ops.update(str(n.target) for n in gm.graph.nodes if n.op == "call_function")
        return make_boxed_func(gm.forward)

    backend = aot_autograd(fw_compiler=forward, bw_compiler=lambda gm, _: make_boxed_func(gm.forward),
                           decompositions=select_decomp_table())
    torch._dynamo.reset()
    inputs = [t.detach().requires_grad_(True) for t in inputs]
    out = torch.compile(fn, backend=backend, fullgraph=True)(*inputs)
    out.square().sum().backward()
    return out.detach(), [t.grad for t in inputs], ops


@pytest.mark.parametrize("call", ["reference", "packed", "processor"])
def test_compiled_attention_runs_the_op_inside_fused_attention_only(call):
    """Reference attention, packed motion-module attention and the spatial layers' processor."""
    torch.manual_seed(0)
    attn = Attention(query_dim=32, heads=4, dim_head=8, bias=True)
    x, reference = torch.randn(8, 16, 32), torch.randn(2, 16, 32)
    runs = {"reference": (lambda x, ref: attention_with_reference(attn, x, ref), [x, reference]),
            "packed": (lambda x: attention_with_reference(attn, x, None, 4), [x]),
            "processor": (lambda x: ConditionedAttnProcessor()(attn, x), [x])}
    run, inputs = runs[call]
    stock_out, stock_grads, stock_ops = _traced(run, *inputs)
    with fused_attention():
        out, grads, ops = _traced(run, *inputs)
    assert "aa2.attention.default" not in stock_ops  # the stock kernel call (or, masked on a CPU, its arithmetic)
    assert "aa2.attention.default" in ops and not any("scaled_dot_product" in op for op in ops), ops
    torch.testing.assert_close(out, stock_out)
    for got, want in zip(grads, stock_grads):
        torch.testing.assert_close(got, want)
    eager = run(*inputs)  # outside a compiled graph the stock call runs
    with fused_attention():
        torch.testing.assert_close(run(*inputs), eager, rtol=0, atol=0)


@pytest.mark.parametrize("capability, dtype, head_dim, masked, kernel", [
    ((9, 0), torch.bfloat16, 40, False, CUDNN), ((9, 0), torch.bfloat16, 40, True, EFFICIENT),
    ((9, 0), torch.float16, 80, True, CUDNN), ((10, 0), torch.bfloat16, 160, False, CUDNN),
    ((9, 0), torch.float32, 40, False, None), ((8, 0), torch.bfloat16, 40, False, None)])
def test_on_a_gpu_the_op_takes_the_stock_kernel_or_leaves_the_call_stock(monkeypatch, capability, dtype, head_dim,
                                                                      masked, kernel):
    """On a Hopper or newer card, half-precision attention runs the kernel the stock call runs there;
    float32, or a card before Hopper (whose stock call picks flash attention), has no kernel of the
    op, and the model keeps the stock call."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: capability)
    with FakeTensorMode():  # a CUDA tensor's device and dtype, without a GPU
        query = torch.empty(2, 16, 8 * head_dim, device="cuda", dtype=dtype)
        with fused_attention():
            assert backend_for(query, head_dim, masked) == kernel
            if kernel is None:
                with pytest.raises(ValueError, match="no attention kernel"):
                    attention(query, query, query, 8)
        assert backend_for(query, head_dim, masked) is None  # outside fused_attention(): the GPU is not asked
