"""The Trainer: streaming, resumable AA2 training on one CPU, one GPU or many nodes (accelerate).

Shape (torchtitan's): ``Trainer(config)`` builds everything; ``train()`` loops; ``train_step``
does one optimiser step; checkpoint and export methods are small and separate.

Distribution: each rank reads its own resampled shard stream (seeded by rank), so the data
loader is *not* passed through ``accelerator.prepare`` (which would make every rank read the
same stream and keep a slice of it). Randomness of a step (timesteps, noise, VAE sampling, CFG
dropout) comes from a generator seeded by (seed, rank, step): a resumed run draws exactly what
an uninterrupted one would.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import torch
from accelerate import Accelerator
from accelerate.utils import DataLoaderConfiguration, DistributedDataParallelKwargs, ProjectConfiguration, set_seed
from torch._functorch import config as functorch_config
from torch.profiler import record_function
from diffusers.optimization import get_scheduler

from dataset.stream import ShardStream, StreamConfig
from dataset.stream_loader import StreamLoader
from model import fused_attention, set_trainable

from . import checkpointing as ckpt
from .channels_last import rewrite_vae_encoder, swap_group_norms
from .compile_cache import cache_file, load_compile_cache, save_compile_cache
from .components import build_components
from .conditioning import apply_dropout, build_inputs, compile_encoder, precompile_encoder
from .config import CUDA_GRAPH_MODES, TrainConfig
from dataset.config_io import save_config
from .diffusion import diffusion_loss, drop_mask, sample_noise, sample_timesteps, training_target
from .ema import LerpEMAModel
from .frozen_copies import attach_low_precision_copies, refresh_low_precision_copies
from .metrics import StepMeter, compiled_graphs, count_model_flops, peak_memory_gib, peak_tflops
from .preview import generate, log_preview, write_preview

log = logging.getLogger(__name__)
BLOCK_GRAPHS = 64  # compiled graphs kept per block class (one per input shape, grad mode, processor)


class TrainState:
    """Counters saved with the checkpoint (registered with accelerate)."""

    def __init__(self) -> None:
        self.step = 0
        self.micro = 0  # micro-batches seen (gradient accumulation); not saved: a checkpoint ends a step

    def state_dict(self) -> dict:
        return {"step": self.step}

    def load_state_dict(self, state: dict) -> None:
        self.step = int(state["step"])


class Trainer:
    def __init__(self, config: TrainConfig):
        self.config = config
        self.output_dir = Path(config.output_dir)
        tracker = None if config.log.tracker == "none" else config.log.tracker
        self.accelerator = Accelerator(
            cpu=config.cpu, mixed_precision=config.mixed_precision,
            gradient_accumulation_steps=config.optim.grad_accum, log_with=tracker,
            project_config=ProjectConfiguration(project_dir=str(self.output_dir), logging_dir=str(self.output_dir / "logs")),
            dataloader_config=DataLoaderConfiguration(dispatch_batches=False),
            kwargs_handlers=[DistributedDataParallelKwargs(bucket_cap_mb=config.ddp_bucket_mb)],
        )
        if self.accelerator.device.type == "cpu" and "OMP_NUM_THREADS" not in os.environ:
            # Leave a core to each data worker: oversubscribed OpenMP threads spin and crawl.
            torch.set_num_threads(max(1, (os.cpu_count() or 1) - config.data.num_workers))
        if self.accelerator.device.type == "cuda":
            torch.backends.cudnn.benchmark = config.cudnn_benchmark
        set_seed(config.seed)  # the same model initialisation on every rank
        self.components = build_components(config)
        if config.model.compile_channels_last:  # Inductor's channels-last GroupNorm reads across rows
            swap_group_norms(self.components.model)
        self.groups = set_trainable(self.components.model, config.stage)
        self.params = [p for group in self.groups.values() for p in group]
        if config.model.frozen_compute_copies and self._autocast_dtype() is not None:
            attach_low_precision_copies(self.components.model, self._autocast_dtype(), config.model.compile_channels_last)
        self.optimizer = self._build_optimizer()
        self.lr_scheduler = self._build_lr_scheduler()
        self.model, self.optimizer, self.lr_scheduler = self.accelerator.prepare(
            self.components.model, self.optimizer, self.lr_scheduler)
        refresh_low_precision_copies(self.components.model)  # from the weights DDP broadcast
        # FLOPs are counted on the eager model and encoder (the counter does not see inside compiled
        # graphs, and a compiled module first called under it may not compile at all); the compiled
        # ones take over after that first step.
        self.compiled_encoder = self._place_frozen()
        whole = config.model.compile and config.model.compile_scope == "model"
        self.compiled = torch.compile(self.model, **self._compile_options()) if whole else None
        self.compile_cache = self._compile_cache_path()
        if self.compile_cache is not None:
            load_compile_cache(self.compile_cache)
        self._cached_graphs = 0  # Dynamo's graph count when the compile cache was last written
        self.loader = self._build_loader()
        self.ema = LerpEMAModel(self.params, decay=config.ema.decay,
                                update_after_step=config.ema.update_after_step) if config.ema.enabled else None
        self.state = TrainState()
        self.accelerator.register_for_checkpointing(self.state, *([self.ema] if self.ema else []))
        self.meter = StepMeter()
        self.flops_per_step: int | None = None
        self.history: list[dict] = []  # logged metrics of this process (tests and summaries read it)

    # ---- construction -------------------------------------------------------------------------
    def _build_optimizer(self) -> torch.optim.Optimizer:
        o = self.config.optim
        fused = o.fused and torch.cuda.is_available() and not self.config.cpu
        return torch.optim.AdamW(self.params, lr=o.lr, betas=o.betas, eps=o.eps, weight_decay=o.weight_decay,
                                 fused=fused or None)

    def _build_lr_scheduler(self):
        # accelerate steps a prepared scheduler once per process per optimiser step.
        n = self.accelerator.num_processes
        return get_scheduler(self.config.optim.schedule, self.optimizer,
                             num_warmup_steps=self.config.optim.warmup_steps * n,
                             num_training_steps=self.config.max_steps * n)

    def _autocast_dtype(self) -> torch.dtype | None:
        return {"bf16": torch.bfloat16, "fp16": torch.float16}.get(self.config.mixed_precision)

    def _frozen_dtype(self) -> torch.dtype:
        return (self._autocast_dtype() if self.accelerator.device.type == "cuda" else None) or torch.float32

    def _place_frozen(self) -> torch.nn.Module | None:
        """Frozen models to the device in the frozen dtype; the compiled VAE encoder, if asked for."""
        dtype, device = self._frozen_dtype(), self.accelerator.device
        vae = self.components.vae.to(device=device, dtype=dtype)
        self.components.image_encoder.to(device=device, dtype=dtype)
        m = self.config.model
        if m.compile_vae and m.rewrite_vae:
            rewrite_vae_encoder(vae.encoder)
        if not (m.compile_vae and device.type == "cuda"):
            return None
        # static shapes: the calls are padded to a few batch sizes (vae_options)
        torch._dynamo.config.cache_size_limit = max(torch._dynamo.config.cache_size_limit,
                                                    2 * m.vae_chunk // m.vae_pad_to)
        return compile_encoder(vae.encoder, m.vae_tuning, m.vae_chunk)

    def _compile_options(self) -> dict:
        """``torch.compile`` arguments of the model (whole or by blocks)."""
        m = self.config.model
        if not m.compile_channels_last:
            return {"backend": m.compile_backend, **({"mode": m.compile_mode} if m.compile_mode != "default" else {})}
        # torch.compile takes a mode or options, not both: the mode's options go in with ours
        from torch._inductor import list_mode_options

        return {"backend": m.compile_backend,
                "options": {**list_mode_options(m.compile_mode), "force_layout_optimization": True}}

    def vae_options(self, counting: bool = False) -> dict:
        """How :func:`build_inputs` calls the VAE encoder; a compiled one gets padded calls, except
        while FLOPs are counted (``counting``: the first step, eager): padding is not useful work."""
        m = self.config.model
        pad = m.compile_vae and self.accelerator.device.type == "cuda" and not counting
        return {"vae_chunk": m.vae_chunk, "vae_pad_to": m.vae_pad_to if pad else 0}

    def _build_loader(self) -> StreamLoader:
        d = self.config.data
        stream = ShardStream(
            StreamConfig(shards=d.train_shards, batch_size=d.batch_size, resampled=True,
                         batches_per_epoch=d.batches_per_epoch, shuffle_buffer=d.shuffle_buffer,
                         shuffle_initial=min(16, d.shuffle_buffer), seed=self.config.seed),
            d.sample, rank=self.accelerator.process_index, world_size=self.accelerator.num_processes)
        return StreamLoader(stream, num_workers=d.num_workers, pin_memory=self.accelerator.device.type == "cuda")

    # ---- training -----------------------------------------------------------------------------
    def _generator(self) -> torch.Generator:
        """Seeded by (seed, rank, step, micro-batch): the same draws in a resumed run."""
        micro = self.state.micro % self.config.optim.grad_accum
        seed = np.random.SeedSequence([self.config.seed, self.accelerator.process_index, self.state.step, micro])
        return torch.Generator(device=self.accelerator.device).manual_seed(int(seed.generate_state(1)[0]))

    def compute_loss(self, batch) -> torch.Tensor:
        """Diffusion loss of one unpacked batch on the device."""
        c, d, m = self.components, self.config.diffusion, self.config.model
        g = self._generator()
        with record_function("conditioning"):  # named ranges for torch.profiler (bench-train --profile)
            inputs = build_inputs(batch, c.vae, c.image_encoder, self.accelerator.unwrap_model(self.model).spec, g,
                                  **self.vae_options(counting=self.flops_per_step is None))
        b, device = inputs.latents.shape[0], inputs.latents.device
        inputs = apply_dropout(inputs, drop_mask(b, d.reference_dropout, device, g),
                               drop_mask(b, d.image_embed_dropout, device, g))
        noise = sample_noise(inputs.latents, d.noise_offset, g)
        timesteps = sample_timesteps(c.scheduler, b, device, g)
        noisy = c.scheduler.add_noise(inputs.latents, noise, timesteps)
        model = self.compiled if self.compiled is not None and self.flops_per_step is not None else self.model
        with self.accelerator.autocast(), record_function("forward"), fused_attention(m.compile_attention_op), \
                functorch_config.patch(recompute_views=m.compile_recompute_views):  # a compiled model compiles here
            pred = model(noisy, timesteps, **inputs.model_kwargs())
        with record_function("loss"):
            target = training_target(c.scheduler, inputs.latents, noise, timesteps)
            return diffusion_loss(c.scheduler, pred, target, timesteps, d.min_snr_gamma)

    def train_step(self, batch) -> dict:
        """One micro-batch; returns loss (and grad norm when the optimiser stepped).

        When the optimiser steps (the last micro-batch of an accumulation), the EMA weights follow.
        The figures are 0-dim tensors on the device, read at logging only: reading them at every
        step would make the host wait for the GPU and leave the GPU idle while the host then
        prepares the next step.
        """
        batch = batch.to(self.accelerator.device)
        if self.config.model.compile_mode in CUDA_GRAPH_MODES:
            torch.compiler.cudagraph_mark_step_begin()  # the last step's graph outputs are no longer read
        out = {}
        with self.accelerator.accumulate(self.model):
            if self.flops_per_step is None:
                loss, flops = count_model_flops(self.components.model, lambda: self._backward(batch))
                self.flops_per_step = flops * self.config.optim.grad_accum
                self._compile_after_counting(batch)
            else:
                loss = self._backward(batch)
            self.state.micro += 1
            if self.accelerator.sync_gradients and self.config.optim.max_grad_norm:
                with record_function("clip_grad"):
                    norm = self.accelerator.clip_grad_norm_(self.params, self.config.optim.max_grad_norm)
                if norm is not None:  # None where a DeepSpeed engine clips on its own
                    out["grad_norm"] = norm.detach() if isinstance(norm, torch.Tensor) else norm
            with record_function("optimizer"):
                self.optimizer.step()
                self.lr_scheduler.step()
                self.optimizer.zero_grad(set_to_none=True)
            if self.accelerator.sync_gradients and self.ema is not None:
                with record_function("ema"):
                    self.ema.step(self.params)
        out["loss"] = loss
        return out

    def _compile_cache_path(self) -> Path | None:
        m = self.config.model
        compiles = m.compile or self.compiled_encoder is not None
        if not (compiles and m.compile_cache):
            return None
        return self.output_dir / cache_file(m.compile_cache, self.accelerator.device)

    def update_compile_cache(self) -> None:
        """After a step that compiled new graphs, the main process rewrites the compile cache."""
        graphs = compiled_graphs()
        if graphs > self._cached_graphs and self.accelerator.is_main_process:
            save_compile_cache(self.compile_cache)
        self._cached_graphs = graphs

    def _compile_after_counting(self, batch) -> None:
        """Swap in the compiled VAE encoder (compiled now for every size it will see, with
        ``model.vae_precompile``); compile the model's repeated blocks in place."""
        if self.compiled_encoder is not None:
            self.components.vae.encoder = self.compiled_encoder
            m = self.config.model
            if m.vae_precompile:  # every size now, on every process at once
                precompile_encoder(self.components.vae, batch, self.accelerator.unwrap_model(self.model).spec,
                                   m.vae_chunk, m.vae_pad_to, log=self._print)
        if self.config.model.compile and self.config.model.compile_scope == "blocks":
            # static shapes: each block sees a few (ReferenceNet, DenoisingNet, validation), one graph each
            torch._dynamo.config.cache_size_limit = max(torch._dynamo.config.cache_size_limit, BLOCK_GRAPHS)
            self.accelerator.unwrap_model(self.model).compile_repeated_blocks(dynamic=False, **self._compile_options())

    def _backward(self, batch) -> torch.Tensor:
        loss = self.compute_loss(batch)
        with record_function("backward"):
            self.accelerator.backward(loss)
        return loss.detach()

    def train(self) -> dict:
        self.resume()
        self._start_logging()
        while self.state.step < self.config.max_steps:
            self.meter.reset()
            for batch in self.loader:
                self.meter.data_ready()
                metrics = self.train_step(batch)
                if not self.accelerator.sync_gradients:
                    continue
                self.state.step += 1
                self.meter.step_done(len(batch), len(batch) * batch.num_frames)
                self._after_step(metrics)
                if self.state.step >= self.config.max_steps:
                    break
        if self.state.step % self.config.checkpoint.every_steps:  # not saved by the last step already
            self.save_checkpoint()
        export = self.export(self.output_dir / "export")
        self.accelerator.end_training()
        return {"step": self.state.step, "export": str(export), "last": self.history[-1] if self.history else {}}

    def _after_step(self, metrics: dict) -> None:
        step, cfg = self.state.step, self.config
        if self.compile_cache is not None:
            self.update_compile_cache()
        if step % cfg.log.every_steps == 0 or step == cfg.max_steps:
            self._log(metrics)
        if step % cfg.checkpoint.every_steps == 0:
            self.save_checkpoint()
        if cfg.data.val_shards and step % cfg.log.val_every_steps == 0:
            self.validate()

    # ---- logging ------------------------------------------------------------------------------
    def _start_logging(self) -> None:
        if self.accelerator.is_main_process:
            self.output_dir.mkdir(parents=True, exist_ok=True)
            save_config(self.config, self.output_dir / "config.yaml")
        if self.config.log.tracker != "none":
            self.accelerator.init_trackers("aa2")
        trainable = sum(p.numel() for p in self.params)
        self._print(f"stage {self.config.stage}: {trainable / 1e6:.2f} M trainable parameters in "
                    f"{sorted(self.groups)}; {self.accelerator.num_processes} process(es) on {self.accelerator.device}")

    def _print(self, message: str) -> None:
        if self.accelerator.is_main_process:
            log.info(message)

    def _log(self, metrics: dict) -> None:
        device = self.accelerator.device
        figures = {k: float(v) for k, v in metrics.items()}  # waits for the GPU to finish the window's steps
        self.meter.settle()
        row = {**figures, "lr": self.lr_scheduler.get_last_lr()[0],
               **self.meter.summary(self.flops_per_step, peak_tflops(device, self.config.log.peak_tflops))}
        if self.config.model.compile or self.compiled_encoder is not None:
            row["compiled_graphs"] = compiled_graphs()  # rising after the first steps: something compiles again
        memory = peak_memory_gib(device)
        if memory is not None:
            row["peak_memory_gib"] = memory
        errors = sum(self.loader.error_counts().values())
        if errors:
            row["skipped_samples"] = errors
        self.history.append({"step": self.state.step, **row})
        if self.config.log.tracker != "none":
            self.accelerator.log(row, step=self.state.step)
        self._print(f"step {self.state.step}: " + " ".join(f"{k}={v:.4g}" for k, v in row.items()))
        self.meter.reset()

    # ---- checkpoints --------------------------------------------------------------------------
    def save_checkpoint(self) -> Path:
        step = self.state.step
        folder = ckpt.tmp_dir(self.output_dir, step)
        self.accelerator.save_state(str(folder), safe_serialization=True)
        self.accelerator.wait_for_everyone()
        ckpt.save_data_state(folder, self.accelerator.process_index, self.loader.state_dict())
        self.accelerator.wait_for_everyone()
        final = folder
        if self.accelerator.is_main_process:
            final = ckpt.finalise(self.output_dir, step)
            ckpt.prune(self.output_dir, self.config.checkpoint.keep_last)
            log.info("checkpoint %s", final)
        self.accelerator.wait_for_everyone()
        return ckpt.checkpoints_root(self.output_dir) / ckpt.step_dir_name(step)

    def resume(self) -> bool:
        folder = ckpt.resolve_resume(self.config.checkpoint.resume, self.output_dir)
        if folder is None:
            return False
        self.accelerator.load_state(str(folder))
        refresh_low_precision_copies(self.accelerator.unwrap_model(self.model))
        data = ckpt.load_data_state(folder, self.accelerator.process_index)
        if data is not None:
            self.loader.load_state_dict(data)
        self._print(f"resumed from {folder} at step {self.state.step}")
        return True

    def export(self, folder: Path) -> Path:
        """The trained AA2 model (EMA weights if configured) in ``save_pretrained`` layout."""
        model = self.accelerator.unwrap_model(self.model)
        use_ema = self.ema is not None and self.config.checkpoint.export_ema
        if use_ema:
            self.ema.store(self.params)
            self.ema.copy_to(self.params)
        if self.accelerator.is_main_process:
            model.save_pretrained(folder, safe_serialization=True)
        if use_ema:
            self.ema.restore(self.params)
        self.accelerator.wait_for_everyone()
        return folder

    # ---- validation ---------------------------------------------------------------------------
    def _validation_batch(self):
        d = self.config.data
        sample = type(d.sample)(**{**d.sample.__dict__, "train": False})
        stream = ShardStream(StreamConfig(shards=d.val_shards, batch_size=1, resampled=False), sample, rank=0,
                             world_size=1)
        return next(iter(StreamLoader(stream, num_workers=0)))

    def validate(self) -> dict | None:
        if not self.accelerator.is_main_process:
            return None
        model = self.accelerator.unwrap_model(self.model)
        batch = self._validation_batch().to(self.accelerator.device)
        was_training = model.training
        model.eval()
        with self.accelerator.autocast():
            frames = generate(model, self.components, batch, self.config.log.val_inference_steps,
                              self.config.log.val_guidance, seed=self.config.seed)
        model.train(was_training)
        paths = write_preview(batch, frames, self.output_dir / "previews", f"step-{self.state.step:08d}")
        if self.config.log.tracker != "none":
            log_preview(self.accelerator, self.config.log.tracker, paths["grid"], self.state.step)
        self._print(f"validation preview: {paths['png']} and {paths['mp4']}")
        return paths
