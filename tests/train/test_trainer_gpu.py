"""The trainer's CUDA-only paths on a tiny model: the compiled step replayed as CUDA graphs
(``model.compile_mode=reduce-overhead``) and the compiled VAE encoder with padded calls
(``model.compile_vae``). Skipped without a CUDA GPU; on a GPU machine: ``pytest -m gpu tests``."""

import pytest
import torch

from tests.dataset.conftest import write_shard_folder
from tests.train.test_trainer import _params, tiny_config
from train.conditioning import ChunkTunedEncoder
from train.trainer import Trainer

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    folder = tmp_path_factory.mktemp("shards")
    write_shard_folder(folder, 6, clips_per_shard=3, num_frames=8, hw=(64, 80))
    return folder


def _losses(trainer: Trainer, steps: int) -> list[float]:
    return [float(trainer.train_step(batch)["loss"]) for _, batch in zip(range(steps), trainer.loader)]


def test_cuda_graph_steps_follow_the_compiled_steps(shards, tmp_path, monkeypatch):
    """Graph trees record the compiled forward and backward after their warm-up runs and replay
    them; the losses and parameters stay those of the same compiled step run without graphs."""
    replays = []
    replay = torch.cuda.CUDAGraph.replay
    monkeypatch.setattr(torch.cuda.CUDAGraph, "replay", lambda graph: (replays.append(1), replay(graph))[1])
    runs, starts = {}, {}
    for mode in ("default", "reduce-overhead"):
        torch._dynamo.reset()
        trainer = Trainer(tiny_config(shards, tmp_path / mode, "cpu=false", "ema.enabled=false", "model.compile=true",
                                      f"model.compile_mode={mode}"))
        starts[mode] = _params(trainer)
        runs[mode] = trainer, _losses(trainer, 8)
        if mode == "default":
            assert not replays
    assert len(replays) > 0  # the later steps ran as graph replays
    (plain, plain_losses), (graphed, graphed_losses) = runs["default"], runs["reduce-overhead"]
    assert graphed_losses == pytest.approx(plain_losses, rel=1e-4, abs=1e-6)
    # AdamW moves a parameter by about lr a step whatever its gradient's size, so a rounding
    # difference that flips a near-zero gradient's sign moves that element by lr: compare on average
    a, b = _params(plain), _params(graphed)
    moved = torch.cat([(a[k] - starts["default"][k]).abs().flatten().float() for k in a]).mean()
    apart = torch.cat([(b[k] - a[k]).abs().flatten().float() for k in a]).mean()
    assert moved > 0 and apart < 0.01 * moved, (moved, apart)


def test_compiled_padded_vae_encoder_gives_the_eager_steps(shards, tmp_path):
    """Stage 2 encodes 19-27 images a step here; in calls of 4 with the last one padded to 3, the
    compiled encoder's padding must not shift or leak into any image's latent, rewritten for
    channels-last code (``model.rewrite_vae``) or not, its kernels tuned (``model.vae_tuning``:
    every call, or only the full calls of 4) or not."""
    runs = {}
    ways = {"eager": [], "compiled": ["model.compile_vae=true", "model.rewrite_vae=false"],
            "rewritten": ["model.compile_vae=true", "model.rewrite_vae=true"],
            "tuned": ["model.compile_vae=true", "model.vae_tuning=all"],
            "full calls tuned": ["model.compile_vae=true", "model.vae_tuning=full"]}
    for name, extra in ways.items():
        torch._dynamo.reset()
        trainer = Trainer(tiny_config(shards, tmp_path / name, "cpu=false", "ema.enabled=false", "model.vae_chunk=4",
                                      "model.vae_pad_to=3", *extra, stage=2))
        runs[name] = trainer, _losses(trainer, 4)
    (eager, eager_losses), (compiled, compiled_losses) = runs["eager"], runs["compiled"]
    assert isinstance(compiled.components.vae.encoder, torch._dynamo.eval_frame.OptimizedModule)
    assert not isinstance(eager.components.vae.encoder, torch._dynamo.eval_frame.OptimizedModule)
    assert compiled_losses == pytest.approx(eager_losses, rel=1e-3, abs=1e-5)
    assert isinstance(runs["full calls tuned"][0].components.vae.encoder, ChunkTunedEncoder)
    for name in ("rewritten", "tuned", "full calls tuned"):
        assert runs[name][1] == pytest.approx(eager_losses, rel=1e-3, abs=1e-5), name


def test_channels_last_compiled_steps_follow_the_stock_compiled_steps(shards, tmp_path):
    """``model.compile_channels_last`` changes the layout of the compiled video model's
    convolutions and computes its GroupNorms from channel sums: the same losses and updates as the
    stock compiled step, up to the rounding of other kernels."""
    runs = {}
    for name, extra in {"stock": [], "channels_last": ["model.compile_channels_last=true"]}.items():
        torch._dynamo.reset()
        trainer = Trainer(tiny_config(shards, tmp_path / name, "cpu=false", "ema.enabled=false", "model.compile=true",
                                      *extra, stage=2))
        start = _params(trainer)
        runs[name] = trainer, start, _losses(trainer, 4)
    (stock, start, stock_losses), (swapped, _, swapped_losses) = runs["stock"], runs["channels_last"]
    assert any(type(m).__name__ == "ChannelSumGroupNorm" for m in swapped.components.model.modules())
    assert swapped_losses == pytest.approx(stock_losses, rel=1e-3, abs=1e-5)
    a, b = _params(stock), _params(swapped)
    moved = torch.cat([(a[k] - start[k]).abs().flatten().float() for k in a]).mean()
    apart = torch.cat([(b[k] - a[k]).abs().flatten().float() for k in a]).mean()
    assert moved > 0 and apart < 0.01 * moved, (moved, apart)
