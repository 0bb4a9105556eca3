"""The Trainer on a tiny model and real fixture shards: learning, exact resume, frozen parts,
export, and configs that contradict themselves."""

import logging

import pytest
import torch
from accelerate.state import AcceleratorState
from torch._dynamo import register_backend
from torch._dynamo.backends.common import aot_autograd
from torch._functorch.aot_autograd import make_boxed_func
from torch._functorch.partitioners import min_cut_rematerialization_partition
from torch._inductor.decomposition import select_decomp_table

from model import AA2Model
from tests.dataset.conftest import write_shard_folder
from train.config import TrainConfig
from dataset.config_io import load_config
from train.recipes import recipe
from train.trainer import Trainer


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    folder = tmp_path_factory.mktemp("shards")
    write_shard_folder(folder, 6, clips_per_shard=3, num_frames=8, hw=(64, 80))
    return folder


def tiny_config(shards, out, *overrides, stage=1):
    base = [f"data.train_shards={shards}", f"output_dir={out}", "data.num_workers=0", "log.tracker=none",
            "data.batch_size=2", "data.batches_per_epoch=4", "optim.warmup_steps=0", "log.every_steps=1"]
    if stage == 2:
        base += ["stage=2", "data.sample.mode=video", "data.sample.num_frames=4", "data.sample.stride=1"]
    return load_config(TrainConfig, recipe("tiny"), None, base + list(overrides))


def test_loss_on_a_fixed_batch_falls(shards, tmp_path):
    trainer = Trainer(tiny_config(shards, tmp_path, "ema.enabled=false", "diffusion.reference_dropout=0.0",
                                  "diffusion.image_embed_dropout=0.0", "diffusion.min_snr_gamma=null"))
    batch = next(iter(trainer.loader))

    def fixed_loss():  # the same noise and timesteps every time: the generator depends on the step only
        step, trainer.state.step = trainer.state.step, 0
        with torch.no_grad():
            loss = trainer.compute_loss(batch.to("cpu")).item()
        trainer.state.step = step
        return loss

    before = fixed_loss()
    for step in range(50):
        trainer.state.step = step
        trainer.train_step(batch)
    after = fixed_loss()
    assert after < 0.6 * before, (before, after)


def _params(trainer):
    model = trainer.accelerator.unwrap_model(trainer.model)
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_stopped_and_resumed_run_matches_uninterrupted(shards, tmp_path):
    straight = Trainer(tiny_config(shards, tmp_path / "a", "max_steps=6", "checkpoint.every_steps=100"))
    straight.train()
    first = Trainer(tiny_config(shards, tmp_path / "b", "max_steps=3", "checkpoint.every_steps=3"))
    first.train()
    resumed = Trainer(tiny_config(shards, tmp_path / "b", "max_steps=6", "checkpoint.every_steps=100"))
    resumed.train()
    assert resumed.history[0]["step"] == 4  # it continued, it did not start over
    losses_a = [row["loss"] for row in straight.history[3:]]
    losses_b = [row["loss"] for row in resumed.history]
    assert losses_b == pytest.approx(losses_a, rel=1e-5, abs=1e-7)
    a, b = _params(straight), _params(resumed)
    assert all(torch.allclose(a[k], b[k], rtol=1e-5, atol=1e-6) for k in a)
    ema_a, ema_b = straight.ema.shadow_params, resumed.ema.shadow_params
    assert all(torch.allclose(x, y, rtol=1e-5, atol=1e-6) for x, y in zip(ema_a, ema_b))


def test_rewritten_vae_encoder_trains_as_the_stock_one(shards, tmp_path):
    losses = {}
    for rewrite in ("false", "true"):
        trainer = Trainer(tiny_config(shards, tmp_path / rewrite, "max_steps=3", "ema.enabled=false",
                                      "model.compile_vae=true", f"model.rewrite_vae={rewrite}", stage=2))
        trainer.train()
        norms = {type(m).__name__ for m in trainer.components.vae.encoder.modules() if isinstance(m, torch.nn.GroupNorm)}
        assert norms == ({"ChannelSumGroupNorm"} if rewrite == "true" else {"GroupNorm"})
        losses[rewrite] = [row["loss"] for row in trainer.history]
    assert losses["true"] == pytest.approx(losses["false"], rel=1e-4, abs=1e-6)


def test_channels_last_compile_computes_the_models_group_norms_from_channel_sums(shards, tmp_path):
    """``model.compile_channels_last`` swaps every GroupNorm of the model (nothing compiles before a
    step is run), keeping the parameters and the state-dict keys an export is read back with."""
    stock = Trainer(tiny_config(shards, tmp_path / "stock", "ema.enabled=false"))
    swapped = Trainer(tiny_config(shards, tmp_path / "swapped", "ema.enabled=false", "model.compile=true",
                                  "model.compile_channels_last=true"))
    kinds = lambda t: {type(m).__name__ for m in t.components.model.modules() if isinstance(m, torch.nn.GroupNorm)}  # noqa: E731
    assert kinds(stock) == {"GroupNorm"} and kinds(swapped) == {"ChannelSumGroupNorm"}
    assert stock.components.model.state_dict().keys() == swapped.components.model.state_dict().keys()
    trained = {id(p) for p in swapped.params}
    norms = [m for m in swapped.components.model.modules() if isinstance(m, torch.nn.GroupNorm) and m.affine]
    assert any(id(m.weight) in trained for m in norms)  # the optimiser still holds the norms' parameters


def test_stage2_changes_only_temporal_layers(shards, tmp_path):
    trainer = Trainer(tiny_config(shards, tmp_path, "max_steps=2", "ema.enabled=false", stage=2))
    model = trainer.accelerator.unwrap_model(trainer.model)
    before = _params(trainer)
    frozen = {name: {k: v.clone() for k, v in getattr(trainer.components, name).state_dict().items()}
              for name in ("vae", "image_encoder")}
    trainer.train()
    after = _params(trainer)
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed and all(".motion_modules." in k for k in changed)
    assert model.is_video
    for name, state in frozen.items():
        now = getattr(trainer.components, name).state_dict()
        assert all(torch.equal(state[k], now[k]) for k in state), name


@pytest.fixture
def fresh_accelerator_state():
    yield
    AcceleratorState._reset_state(reset_partial_state=True)  # the other tests run without mixed precision


def test_frozen_layers_computing_from_cast_copies_train_as_autocast_does(shards, tmp_path, fresh_accelerator_state):
    """``model.frozen_compute_copies`` under bf16 autocast (here on the CPU): the same losses and
    updates to the bit, copies on the frozen layers only, float32 weights in the checkpoints."""
    runs = {}
    for copies in ("false", "true"):
        AcceleratorState._reset_state(reset_partial_state=True)  # accelerate keeps one precision a process
        trainer = Trainer(tiny_config(shards, tmp_path / copies, "max_steps=3", "mixed_precision=bf16",
                                      f"model.frozen_compute_copies={copies}", stage=2))
        trainer.train()
        model = trainer.accelerator.unwrap_model(trainer.model)
        copied = [m for m in model.modules() if hasattr(m, "weight_compute_copy")]
        assert bool(copied) == (copies == "true")
        assert all(not p.requires_grad for m in copied for p in m.parameters())
        assert all(v.dtype == torch.float32 for v in model.state_dict().values())
        runs[copies] = [row["loss"] for row in trainer.history], _params(trainer)
    assert runs["true"][0] == runs["false"][0]
    assert all(torch.equal(runs["true"][1][k], v) for k, v in runs["false"][1].items())


def test_export_loads_and_gives_the_same_output(shards, tmp_path):
    trainer = Trainer(tiny_config(shards, tmp_path, "max_steps=2", "checkpoint.export_ema=false"))
    result = trainer.train()
    trained = trainer.accelerator.unwrap_model(trainer.model).eval()
    loaded = AA2Model.from_pretrained(result["export"]).eval()
    g = torch.Generator().manual_seed(0)
    inputs = dict(noisy_latents=torch.randn(1, 4, 1, 8, 8, generator=g), timesteps=torch.tensor([500]),
                  ref_latents=torch.randn(1, 4, 8, 8, generator=g), image_embeds=torch.randn(1, 1, 32, generator=g),
                  env_latents=torch.randn(1, 4, 1, 8, 8, generator=g), mask=torch.ones(1, 1, 1, 8, 8),
                  skeleton=torch.rand(1, 3, 1, 64, 64, generator=g), struct_depth=torch.rand(1, 1, 1, 64, 64, generator=g),
                  object_latents=torch.randn(1, 4, 1, 8, 8, generator=g))
    with torch.no_grad():
        torch.testing.assert_close(loaded(**inputs), trained(**inputs))


@pytest.mark.parametrize("scope", ["blocks", "model"])
def test_compiled_model_trains_as_the_eager_model_does(shards, tmp_path, scope):
    """Compilation (``aot_eager``: Dynamo's graphs and autograd, no generated kernels), by blocks in
    place or of the whole model, takes over after the counting step, keeps the state-dict names and
    follows the eager run's losses and parameters."""
    torch._dynamo.utils.counters.clear()
    runs = {}
    for name, extra in {"eager": [], scope: ["model.compile=true", f"model.compile_scope={scope}", "model.compile_backend=aot_eager"]}.items():
        # with gradient checkpointing, as the stage recipes train: checkpointed blocks call compiled ones
        trainer = Trainer(tiny_config(shards, tmp_path / name, "ema.enabled=false", "model.gradient_checkpointing=true",
                                      *extra, stage=2))
        losses = [float(trainer.train_step(batch)["loss"]) for _, batch in zip(range(3), trainer.loader)]
        runs[name] = trainer, losses
    (eager, eager_losses), (compiled, compiled_losses) = runs["eager"], runs[scope]
    assert compiled_losses == pytest.approx(eager_losses, rel=1e-4, abs=1e-6)
    model = compiled.accelerator.unwrap_model(compiled.model)
    blocks = [m for m in model.modules() if type(m).__name__ in AA2Model._repeated_blocks]
    assert {type(m).__name__ for m in blocks} == set(AA2Model._repeated_blocks)
    if scope == "blocks":
        assert all(m._compiled_call_impl is not None for m in blocks) and compiled.compiled is None
    else:  # one graph module over the whole model, whose frames Dynamo has traced
        assert all(m._compiled_call_impl is None for m in blocks)
        assert isinstance(compiled.compiled, torch._dynamo.eval_frame.OptimizedModule)
        assert torch._dynamo.utils.counters["stats"]["unique_graphs"] > 0  # graphs traced in this test's steps
    a, b = _params(eager), _params(compiled)
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(b[k], a[k], rtol=1e-4, atol=1e-6)


GRAPHS: dict[str, list] = {"forward": [], "backward": [], "ops": []}  # what the backend below saw compiling


def _forward_views(gm, _):  # the views among the forward graph's outputs, with their ranks; its ops
    GRAPHS["ops"].append({str(n.target) for n in gm.graph.nodes if n.op == "call_function"})
    outputs = next(n for n in gm.graph.nodes if n.op == "output").args[0]
    GRAPHS["forward"].append({o.name: o.meta["val"].ndim for o in outputs
                              if isinstance(o, torch.fx.Node) and getattr(o.target, "is_view", False)})
    return make_boxed_func(gm.forward)


def _backward_inputs(gm, _):  # the saved tensors (and gradients) the backward graph takes
    GRAPHS["backward"].append({n.name for n in gm.graph.nodes if n.op == "placeholder"})
    return make_boxed_func(gm.forward)


# AOTAutograd as Inductor runs it (its decompositions, the min-cut partitioner); the graphs then run as traced
register_backend(aot_autograd(fw_compiler=_forward_views, bw_compiler=_backward_inputs,
                              partition_fn=min_cut_rematerialization_partition, decompositions=select_decomp_table()),
                 name="aa2_test_saved_views")


def test_the_compiled_forward_saves_no_views_for_the_backward(shards, tmp_path):
    """``model.compile_recompute_views`` (the default) holds while the model compiles: the
    partitioner then saves the bases of views (attention's projections), which the backward
    views again; turned off, it saves views, among them attention's 4-D heads, which Inductor
    would lay out in channels-last."""
    saved = {}
    for recompute in (True, False):
        torch._dynamo.reset()
        for graphs in GRAPHS.values():
            graphs.clear()
        trainer = Trainer(tiny_config(shards, tmp_path / str(recompute), "ema.enabled=false", "model.compile=true",
                                      "model.compile_backend=aa2_test_saved_views",
                                      f"model.compile_recompute_views={str(recompute).lower()}", stage=2))
        for _, batch in zip(range(2), trainer.loader):  # the first step counts FLOPs eagerly, the second compiles
            trainer.train_step(batch)
        assert len(GRAPHS["forward"]) == len(GRAPHS["backward"]) > 0
        saved[recompute] = [rank for views, inputs in zip(GRAPHS["forward"], GRAPHS["backward"])
                            for name, rank in views.items() if name in inputs]
    assert saved[True] == [] and saved[False].count(4) > 0, saved


def test_the_compiled_model_runs_attention_as_the_custom_op(shards, tmp_path):
    """``model.compile_attention_op``: the compiled forward calls the custom op where it called the
    attention kernel (the DenoisingNet's reference attention) and follows the eager losses; turned
    off, it calls the stock kernel."""
    losses, ops = {}, {}
    compiled = ["model.compile=true", "model.compile_backend=aa2_test_saved_views"]
    for name, extra in {"eager": [], "op": [*compiled, "model.compile_attention_op=true"],
                        "stock": [*compiled, "model.compile_attention_op=false"]}.items():
        torch._dynamo.reset()
        GRAPHS["ops"].clear()
        trainer = Trainer(tiny_config(shards, tmp_path / name, "ema.enabled=false", *extra, stage=2))
        losses[name] = [float(trainer.train_step(batch)["loss"]) for _, batch in zip(range(3), trainer.loader)]
        ops[name] = set().union(*GRAPHS["ops"])
    assert "aa2.attention.default" in ops["op"] and "aa2.attention.default" not in ops["stock"], ops
    assert any("scaled_dot_product" in op for op in ops["stock"]), ops["stock"]
    assert losses["op"] == pytest.approx(losses["eager"], rel=1e-4, abs=1e-6)


def test_compiled_runs_log_the_graphs_compiled_so_far(shards, tmp_path):
    """The log rows of a compiled run count Dynamo's graphs: none in the first (eager, FLOP-counting)
    step, then the compiled model's, unchanged while the inputs keep their shapes and layout."""
    torch._dynamo.reset()
    torch._dynamo.utils.counters.clear()
    trainer = Trainer(tiny_config(shards, tmp_path / "compiled", "max_steps=4", "ema.enabled=false", "model.compile=true",
                                  "model.compile_backend=aot_eager", "checkpoint.every_steps=100", stage=2))
    trainer.train()
    graphs = [row["compiled_graphs"] for row in trainer.history]
    assert graphs[0] == 0 and graphs[1] > 0 and graphs[1:] == [graphs[1]] * 3, graphs
    eager = Trainer(tiny_config(shards, tmp_path / "eager", "max_steps=1", "ema.enabled=false", "checkpoint.every_steps=100"))
    eager.train()
    assert "compiled_graphs" not in eager.history[0]


@pytest.mark.parametrize(
    "overrides,needle",
    [
        (["data.sample.mode=video"], "data.sample.mode=image"),
        (["diffusion.prediction_type=epsilon"], "v_prediction"),
        (["mixed_precision=fp16"], "fp16 mixed precision needs a GPU"),
        (["model.arch=pretrained"], "model.sd_folder"),
        (["stage=2", "data.sample.mode=video", "model.arch=pretrained", "model.sd_folder=/x",
          "model.image_encoder=/y"], "model.motion_module"),
        (["optim.warmup_steps=500", "max_steps=10"], "warmup_steps"),
        (["optim.lrr=1"], "optim.lrr"),
        (["model.vae_chunk=4", "model.vae_pad_to=8"], r"model.vae_pad_to must lie in \[1, model.vae_chunk=4\]"),
        (["model.compile_channels_last=true"], "model.compile_channels_last needs model.compile=true"),
        (["model.compile=true", "model.compile_backend=aot_eager", "model.compile_channels_last=true"],
         "compile_backend=inductor"),
        (["model.vae_tuning=full"], "model.vae_tuning=full needs model.compile_vae=true"),
        (["model.compile_vae=true", "model.vae_tuning=some"], "model.vae_tuning must be one of"),
        (["model.compile_scope=layers"], "model.compile_scope must be one of"),
        (["model.temporal_pack_max_head_dim=-1"], "model.temporal_pack_max_head_dim must be >= 0"),
        (["model.compile_mode=fast"], "model.compile_mode must be one of"),
        (["model.compile_mode=reduce-overhead"], "model.compile_mode=reduce-overhead needs model.compile=true"),
        (["model.compile=true", "model.compile_mode=reduce-overhead", "optim.grad_accum=2"], "optim.grad_accum=1"),
        (["model.compile=true", "model.compile_mode=max-autotune", "optim.grad_accum=2"], "optim.grad_accum=1"),
    ],
)
def test_contradictory_config_fails_at_start(shards, tmp_path, overrides, needle):
    with pytest.raises(ValueError, match=needle):
        tiny_config(shards, tmp_path, *overrides)


def test_the_motion_modules_pack_up_to_the_configured_head_size(shards, tmp_path):
    from train.components import build_components

    for limit in (0, 64):  # neither is the default
        model = build_components(tiny_config(shards, tmp_path, f"model.temporal_pack_max_head_dim={limit}",
                                             stage=2)).model
        temporal = [p for n, p in model.denoising_unet.attn_processors.items() if ".motion_modules." in n]
        assert temporal and {p.max_head_dim for p in temporal} == {limit}


def test_validation_writes_the_preview_and_logs_its_grid_to_tensorboard(shards, tmp_path):
    from PIL import Image
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    trainer = Trainer(tiny_config(shards, tmp_path, "max_steps=2", "ema.enabled=false", "log.tracker=tensorboard",
                                  f"data.val_shards={shards}", "log.val_every_steps=2", "log.val_inference_steps=2",
                                  "checkpoint.every_steps=100"))
    trainer.train()
    png = tmp_path / "previews" / "step-00000002.png"
    assert png.is_file() and png.with_suffix(".mp4").stat().st_size > 0
    assert not (tmp_path / "previews" / "step-00000001.png").exists()
    events = EventAccumulator(str(tmp_path / "logs" / "aa2"), size_guidance={"images": 0})
    events.Reload()
    logged = events.Images("validation/preview")
    assert [e.step for e in logged] == [2]
    width, height = Image.open(png).size
    assert (logged[0].width, logged[0].height) == (width, height)


def test_the_first_step_compiles_the_vae_encoder_for_every_size_a_step_can_make(shards, tmp_path, caplog):
    """With a compiled encoder (CUDA only; here the eager encoder stands in for it, the same call
    path), the first step ends by running it on every input size :func:`encoder_call_sizes`
    predicts for the batch's shape, largest first, and logs each size; ``model.vae_precompile=false``
    skips that."""
    from train.conditioning import encoder_call_sizes

    caplog.set_level(logging.INFO)
    for precompile in (True, False):
        caplog.clear()
        trainer = Trainer(tiny_config(shards, tmp_path / str(precompile), "ema.enabled=false", "model.vae_chunk=6",
                                      "model.vae_pad_to=4", f"model.vae_precompile={str(precompile).lower()}",
                                      stage=2))
        vae = trainer.components.vae
        trainer.compiled_encoder = vae.encoder
        seen = []
        vae.encoder.register_forward_pre_hook(lambda _, args: seen.append(tuple(args[0].shape)))
        batch = next(iter(trainer.loader))
        trainer.train_step(batch)
        predicted = encoder_call_sizes(2, 4, trainer.accelerator.unwrap_model(trainer.model).spec, 6, 4)
        assert predicted == [6, 4]  # 2 x (4 target + 1 reference + 4 environment) + 1 to 8 object images
        height, width = batch.frames.shape[-2:]
        counted = [n for n, *_ in seen[: len(seen) - len(predicted)]] if precompile else [n for n, *_ in seen]
        assert sum(counted) in range(19, 27)  # the counting step's own calls, unpadded
        if precompile:
            assert seen[-len(predicted):] == [(n, 3, height, width) for n in predicted]
            said = [r.getMessage() for r in caplog.records if r.getMessage().startswith("VAE encoder")]
            assert said[0] == "VAE encoder: compiling 2 input sizes (6, 4 images a call)"
            assert [m.split(" compiled")[0] for m in said[1:]] == [f"VAE encoder: {n} images a call" for n in predicted]
        else:
            assert not [r for r in caplog.records if r.getMessage().startswith("VAE encoder")]
