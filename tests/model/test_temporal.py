"""Motion-module attention packed a few sequences a row: the stock results, where it packs and where not."""

import pytest
import torch
from diffusers import UNetMotionModel
from diffusers.models.attention_processor import Attention, AttnProcessor2_0
from torch.nn.attention import SDPBackend

from model.reference import attention_with_reference, masked_backends
from model.temporal import PackedTemporalAttnProcessor, install_packed_temporal_attention, unpacked
from tests.model.conftest import FRAMES, make_inputs
from tests.model.test_aa2_parity import aa2_from_unet, tiny_options


def _attention(heads: int = 4, head_dim: int = 8) -> Attention:
    torch.manual_seed(0)
    return Attention(query_dim=heads * head_dim, heads=heads, dim_head=head_dim, bias=True)


def _grads(attn: Attention, processor, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
    x = x.clone().requires_grad_(True)
    out = processor(attn, x)
    weights = torch.randn(out.shape, generator=torch.Generator().manual_seed(3))  # a loss that mixes every output
    (out * weights).sum().backward()
    grads = (out.detach(), x.grad, attn.to_q.weight.grad.clone(), attn.to_k.weight.grad.clone())
    attn.zero_grad(set_to_none=True)
    return grads


def test_packed_rows_give_the_stock_attention_and_gradients_of_each_sequence_alone():
    attn = _attention()
    x = torch.randn(24, 16, 32)  # 24 sequences of 16 frames
    packed = PackedTemporalAttnProcessor(pack_to=64, cpu=True)
    assert packed.pack(attn, x) == 4  # 4 sequences a row: 6 rows of 64 tokens
    for got, want in zip(_grads(attn, packed, x), _grads(attn, AttnProcessor2_0(), x)):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
    # without the mask the sequences of a row would see each other
    mixed = attention_with_reference(attn, x[:4].reshape(1, 64, 32), None).reshape(4, 16, 32)
    assert not torch.allclose(mixed, AttnProcessor2_0()(attn, x[:4]), atol=1e-3)


@pytest.mark.parametrize("head_dim", [80, 160])
def test_wide_heads_pack_too_and_keep_the_stock_results(head_dim):
    attn = _attention(heads=2, head_dim=head_dim)
    x = torch.randn(8, 16, 2 * head_dim)
    packed = PackedTemporalAttnProcessor(pack_to=64, max_head_dim=160, cpu=True)
    assert packed.pack(attn, x) == 4
    for got, want in zip(_grads(attn, packed, x), _grads(attn, AttnProcessor2_0(), x)):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)


def test_masked_kernels_are_chosen_by_head_size():
    assert masked_backends(40)[0] == SDPBackend.EFFICIENT_ATTENTION and masked_backends(64)[0] == SDPBackend.EFFICIENT_ATTENTION
    assert masked_backends(80)[0] == SDPBackend.CUDNN_ATTENTION and masked_backends(160)[0] == SDPBackend.CUDNN_ATTENTION
    assert all(backends[-1] == SDPBackend.MATH for backends in (masked_backends(40), masked_backends(160)))


def test_a_packed_call_compiles_into_one_graph():
    attn, x = _attention(), torch.randn(24, 16, 32)
    packed = PackedTemporalAttnProcessor(pack_to=64, cpu=True)
    compiled = torch.compile(lambda t: packed(attn, t), backend="aot_eager", fullgraph=True)  # a graph break raises
    torch.testing.assert_close(compiled(x), AttnProcessor2_0()(attn, x), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("shape, heads, head_dim, cpu, limit, why", [
    ((24, 16, 32), 4, 8, False, 160, "on the CPU unless asked"),
    ((24, 16, 320), 4, 80, True, 64, "head size above max_head_dim"),
    ((24, 16, 640), 4, 160, True, 159, "head size above max_head_dim"),
    ((22, 16, 32), 4, 8, True, 160, "a batch the pack does not divide"),
    ((24, 40, 32), 4, 8, True, 160, "sequences longer than half a row"),
])
def test_calls_that_would_not_pay_or_do_not_fit_run_one_sequence_a_row(shape, heads, head_dim, cpu, limit, why):
    attn = _attention(heads, head_dim)
    x = torch.randn(*shape)
    processor = PackedTemporalAttnProcessor(pack_to=64, max_head_dim=limit, cpu=cpu)
    assert processor.pack(attn, x) == 1, why
    torch.testing.assert_close(processor(attn, x), AttnProcessor2_0()(attn, x), rtol=0, atol=0)


def test_cross_attention_is_left_to_the_stock_processor():
    attn = Attention(query_dim=32, cross_attention_dim=12, heads=4, dim_head=8)
    x, context = torch.randn(24, 16, 32), torch.randn(24, 3, 12)
    out = PackedTemporalAttnProcessor(cpu=True)(attn, x, context)
    torch.testing.assert_close(out, AttnProcessor2_0()(attn, x, context), rtol=0, atol=0)


def test_a_pack_with_reference_tokens_or_a_batch_it_does_not_divide_is_refused():
    attn = _attention()
    with pytest.raises(ValueError, match="no reference tokens"):
        attention_with_reference(attn, torch.randn(8, 16, 32), torch.randn(2, 16, 32), pack=4)
    with pytest.raises(ValueError, match="a batch it divides"):
        attention_with_reference(attn, torch.randn(6, 16, 32), None, pack=4)


@torch.no_grad()
def test_the_video_model_packs_its_motion_modules_only_and_keeps_the_stock_output(tiny_unet, tiny_adapter,
                                                                                   monkeypatch):
    stock = UNetMotionModel.from_unet2d(tiny_unet, tiny_adapter).eval()
    model = aa2_from_unet(tiny_unet, tiny_adapter, tiny_options()).eval()
    processors = model.denoising_unet.attn_processors
    temporal = {n for n, p in processors.items() if isinstance(p, PackedTemporalAttnProcessor)}
    assert temporal and temporal == {n for n in processors if ".motion_modules." in n}
    assert not any(isinstance(p, PackedTemporalAttnProcessor) for p in model.reference_unet.attn_processors.values())
    # packed on the CPU too, FRAMES tokens a sequence, 4 sequences a row
    assert install_packed_temporal_attention(model.denoising_unet, pack_to=4 * FRAMES, cpu=True) == len(temporal)
    packs = []

    def spy(attn, hidden_states, reference, pack=1):
        packs.append(pack)
        return attention_with_reference(attn, hidden_states, reference, pack)

    monkeypatch.setattr("model.temporal.attention_with_reference", spy)
    inputs = make_inputs(reference=False)
    expected = stock(inputs["noisy_latents"], inputs["timesteps"],
                     encoder_hidden_states=inputs["image_embeds"].repeat_interleave(FRAMES, 0)).sample
    torch.testing.assert_close(model(**inputs), expected, rtol=0, atol=1e-5)
    assert len(packs) == len(temporal) and set(packs) == {4}  # every motion-module attention ran packed


@torch.no_grad()
def test_unpacked_counts_the_models_flops_and_packing_resumes_after(tiny_unet, tiny_adapter):
    from torch.utils.flop_counter import FlopCounterMode

    model = aa2_from_unet(tiny_unet, tiny_adapter, tiny_options()).eval()
    inputs = make_inputs(reference=False)

    def flops():
        counter = FlopCounterMode(display=False)
        with counter:
            out = model(**inputs)
        return counter.get_total_flops(), out

    stock, expected = flops()  # on the CPU the installed processors run one sequence a row
    layers = install_packed_temporal_attention(model.denoising_unet, pack_to=4 * FRAMES, cpu=True)
    packed, _ = flops()
    with unpacked(model) as paused:
        inside, out = flops()
    assert paused == layers > 0
    assert packed > stock and inside == stock  # a packed row counts its masked products too
    torch.testing.assert_close(out, expected, rtol=0, atol=0)
    assert flops()[0] == packed  # packing resumes on leaving
