"""Typed training configuration. Every section validates itself; :class:`TrainConfig` checks that
the sections agree with each other (stage vs sample mode, precision vs device, weights vs init),
so a contradictory config fails at start with a message that says what to change.

Recipes (``train.recipes``) are functions returning a TrainConfig; a YAML file and dotted
overrides (``optim.lr=5e-5``) adjust them (``dataset.config_io``).
"""

from __future__ import annotations

import string
from dataclasses import dataclass, field

from dataset.sample_config import SampleConfig

from .diffusion import DiffusionConfig

ARCHS = ("tiny", "sd15", "pretrained")
PRECISIONS = ("no", "fp16", "bf16")
COMPILE_SCOPES = ("blocks", "model")
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")
VAE_TUNINGS = ("none", "full", "all")  # model.vae_tuning: which encoder calls get tuned kernels
CUDA_GRAPH_MODES = ("reduce-overhead", "max-autotune")  # the modes whose compiled graphs replay as CUDA graphs


@dataclass
class ModelConfig:
    arch: str = "pretrained"
    """``pretrained``: weights from local folders below; ``sd15``: full-size SD 1.5 + AnimateDiff
    layout with random weights (benchmarks); ``tiny``: a small random model (CPU demo, tests)."""
    sd_folder: str | None = None
    """Stable Diffusion 1.5 folder in diffusers layout (``unet/``, ``vae/``)."""
    image_encoder: str | None = None
    """CLIP vision folder (``CLIPVisionModelWithProjection`` with ``config.json`` and weights)."""
    motion_module: str | None = None
    """AnimateDiff motion module: a diffusers ``MotionAdapter`` folder or ``mm_sd_v15_v2.ckpt``."""
    init_from: str | None = None
    """An exported AA2 model folder to start from (stage 2 starts from the stage-1 export)."""
    options: dict = field(default_factory=dict)
    """``AA2Options`` overrides (ablations): reference_fusion, use_environment, use_depth, use_object."""
    gradient_checkpointing: bool = False
    compile: bool = False
    """``torch.compile`` the AA2 model after the first step (which counts FLOPs eagerly); the next
    steps are slow while it compiles. See ``compile_scope``."""
    compile_scope: str = "model"
    """``model``: the whole model as one ``torch.compile``; ``blocks``: regional compilation, the
    attention and ResNet blocks that repeat through both UNets compiled one by one
    (``AA2Model.compile_repeated_blocks``), blocks of equal shapes sharing code. On an H100 at
    stage 2 the whole model compiled in 431 s and stepped in 0.497 s, the blocks in 351 s and
    0.551 s, both timed with a wait for the GPU after every step (``BENCHMARKS.md``)."""
    compile_backend: str = "inductor"
    """``torch.compile`` backend of the model (``aot_eager`` traces without generating kernels: a
    quick check that the model compiles)."""
    compile_mode: str = "default"
    """``torch.compile`` mode of the model (Inductor): ``reduce-overhead`` replays the compiled
    forward and backward as CUDA graphs, which spares the host from launching their kernels one by
    one (for steps bound by the host, such as stage 1 at small batches: 12.4 -> 19.1 images/s at
    batch 4 on an H100; stage 2, bound by the GPU, gained 2%); so does ``max-autotune``. Modes with
    CUDA graphs need ``optim.grad_accum=1``."""
    compile_cache: str | None = "compile_cache-{device}.bin"
    """File (relative to ``output_dir``, or absolute) that keeps what ``torch.compile`` generated
    (:mod:`train.compile_cache`): loaded at start, rewritten by the main process after each step
    that compiled something new. A restarted run, on this node or another, then starts with the
    caches warm (on an H100, with its local caches warm, the stage-2 model's compiling step took
    44 s against 449 s). ``{device}`` stands for the kind of card (``NVIDIA-H100-80GB-HBM3``,
    ``cpu``): Inductor's cached code serves only the card it was generated on, so a run resumed on
    another kind keeps each kind's file. ``null`` turns it off."""
    compile_channels_last: bool = False
    """Compiled with Inductor, run the model's convolutions in channels-last (NHWC) memory format
    (Inductor's ``force_layout_optimization``), with the model's GroupNorms computed from
    per-channel sums (:func:`train.channels_last.swap_group_norms`; same parameters and
    state-dict keys), whose reductions read channels-last rows along the channels. Inductor's own
    heuristic keeps a training graph in NCHW when any convolution halves its channels (the UNets'
    up blocks do), and cuDNN then transposes every convolution's input and output. It needs
    ``compile``; with it, a stage-2 step on an H200 took 0.2919 against 0.2986 s (the 17 ms of
    cuDNN's transposes gone, 7 ms more of Inductor's layout changes around attention and linear
    layers), on an H100 0.324 against 0.327 s; its first compile takes about as long (on the
    H100 405 against 392 s)."""
    compile_recompute_views: bool = True
    """With ``compile``, AOTAutograd's partitioner saves the bases of views for the backward pass
    rather than the views, which the backward recomputes for free
    (``torch._functorch.config.recompute_views``). Inductor lays out a 4-D tensor saved for the
    backward in channels-last once its graph has convolutions (the UNets' graphs do), so
    attention's queries, keys and values, [batch, heads, tokens, channels] views of their
    projections, were copied out to that layout in the forward and back in the backward; saved
    as the 2-D projections they are not copied. Compiled on an H100, the 64x64 down block of the
    stage-2 DenoisingNet (batch 4, forward and backward) took 117.3 against 122.9 ms (its layout
    copies 3.4 against 10.2 ms), and the stage-2 step at batch 1 0.3028 and 0.3040 s against
    0.3109 s (one machine, alternated), about 0.5 GB more memory in use."""
    compile_attention_op: bool = True
    """With ``compile``, the model's attention compiles as a custom op over 3-D [batch, tokens,
    heads * channels] tensors (:mod:`model.attention_op`: the same cuDNN and memory-efficient
    kernels, forward and backward), so that no 4-D attention output is saved for the backward,
    which Inductor would copy out to channels-last and back (``compile_recompute_views`` spares
    the queries, keys and values those copies, not the outputs). The same results. It runs in
    half precision on a Hopper or newer card, whose stock kernels it calls; elsewhere the stock
    call runs. Compiled on an H200, the 64x64 down block of the stage-2 DenoisingNet (batch 4,
    forward and backward) took 100.8 against 102.8 ms with the views recomputed alone (its layout
    copies 0 against 2.1 ms); the stage-2 step at batch 4 with both took 1.040 s, 39.3% MFU."""
    frozen_compute_copies: bool = True
    """Under bf16 or fp16 mixed precision, frozen Linear and convolution layers of the model compute
    from copies of their weights cast once to that dtype (:mod:`train.frozen_copies`), where
    autocast would cast them again on every call; the same results. Checkpoints and exports keep
    the float32 weights. The copies take 2 bytes per frozen parameter (3.2 GiB at stage 2); a
    compiled stage-2 step on an H100 took 0.3060-0.3081 s against 0.3094-0.3142 s without them
    (two machines; 962 cast kernels a step down to 308)."""
    temporal_pack_max_head_dim: int = 160
    """On a GPU, the video model's motion modules attend 4 sequences of 16 frames a row under a
    block-diagonal mask (:mod:`model.temporal`) in layers whose heads are at most this wide; the
    same results up to rounding. SD 1.5's heads are 40, 80 and 160 channels wide: 160 packs all
    of them (the 40-channel heads on the memory-efficient kernel, the wider ones on cuDNN's masked
    kernel, which takes half the time of one sequence a row there, ``aa2 bench-attention --pack
    4``), 64 only the first, 0 none. The compiled stage-2 step with 160 against 64: 0.3081-0.3089
    against 0.3111 s on one H100 at batch 1."""
    vae_chunk: int = 16
    """Images per VAE encoder call; a step's images (target, reference, environment, objects) are one stack.
    Fewer, larger calls are faster: compiled, a stage-2 step's 49 images took 0.14 s of GPU time in
    one call (``vae_chunk=49``, ``vae_pad_to=7``, the ``stage2`` recipe) against 0.20 s in chunks of
    16 padded to 56 images (H100). The encoder's activations grow with it: a 128-channel tensor of
    49 images of 512x512 in bf16 is 3.3 GB."""
    compile_vae: bool = False
    """On CUDA, ``torch.compile`` the frozen VAE encoder. Alone it runs 1.8x faster (0.27 -> 0.15 s
    for 48 images of 512x512 on an H200, ``aa2 bench-train --vae-images 48``). The first step
    (FLOP counting) runs the eager encoder. In a stage-2 step on an H100 it cut the conditioning
    passes from 0.26 to 0.18 s. See ``vae_pad_to`` for the shapes it compiles and ``rewrite_vae``."""
    rewrite_vae: bool = True
    """With ``compile_vae``, rewrite the frozen VAE encoder for Inductor's channels-last code before
    it is compiled (:func:`train.channels_last.rewrite_vae_encoder`: GroupNorm from per-channel
    sums, the mid-block attention as two matrix products); the same latents up to bf16 rounding.
    In a compiled stage-2 step on an H100 the step took 0.327-0.328 s against 0.366 s with the
    stock encoder (one machine; the conditioning passes alone 0.13 against 0.18 s). On the CPU,
    where the encoder is not compiled, the rewrite applies all the same."""
    vae_tuning: str = "none"
    """With ``compile_vae`` on CUDA, compile the encoder with Inductor's coordinate-descent tuning
    (``coordinate_descent_tuning``): each fused kernel's block sizes and warps are searched around
    Inductor's pick. ``none``; ``full``: only the calls of ``vae_chunk`` images, all of a step's
    calls but the last (:class:`train.conditioning.ChunkTunedEncoder`), so one input size is tuned;
    ``all``: every input size ``vae_precompile`` names. On an H100 the rewritten encoder took 121.9
    against 127.6 ms for 49 images of 512x512 (its normalising pass at full resolution 2.2 against
    3.0 ms a call), and the compiled stage-2 step 0.3137 against 0.3165 and 0.3173 s (1%); tuning
    one input size took 162 against 38 s of compiling, and at batch 4 on an H200, where a step can
    make seven sizes, about 90-140 s each; there ``full`` tuned the size of 49 images in 114-165 s,
    and the step took 1.020 against 1.040-1.042 s (40.1% MFU; 1.027 against 1.048 s on another
    card). Off by default for that first compile; the compile cache (``compile_cache``) keeps the
    tuned kernels for the runs after it."""
    vae_precompile: bool = True
    """With ``compile_vae`` on CUDA, compile the encoder for every input size a step can send it
    (from the batch size, the frames and the model's inputs: 35, 42 and 49 images with the
    ``stage2`` recipe, seven sizes from 7 to 49 at batch 4) at the first compiled step, on every
    process at once, logging each. Otherwise each size
    compiles in the step that first needs it, and under DDP the other processes wait for it at the
    next all-reduce (28-29 s on 2 H100s, ``BENCHMARKS.md``); sizes that the data never makes then
    compile for nothing."""
    vae_pad_to: int = 8
    """With ``compile_vae`` the encoder is compiled for static shapes, and the last call of a step is
    padded to a multiple of this many images, so it sees at most ``vae_chunk / vae_pad_to`` shapes,
    each compiled once (the padding is not counted in the step's FLOPs). A dynamic batch size
    instead, without padding, made the conditioning passes of a stage-2 step 1.7x slower on an H100
    (0.33 against 0.20 s of GPU time): Inductor then keeps the encoder's convolutions in NCHW."""

    def __post_init__(self) -> None:
        if self.arch not in ARCHS:
            raise ValueError(f"model.arch must be one of {ARCHS}, got {self.arch!r}")
        if self.compile_scope not in COMPILE_SCOPES:
            raise ValueError(f"model.compile_scope must be one of {COMPILE_SCOPES}, got {self.compile_scope!r}")
        if self.temporal_pack_max_head_dim < 0:
            raise ValueError("model.temporal_pack_max_head_dim must be >= 0 (0 packs no motion-module attention), "
                             f"got {self.temporal_pack_max_head_dim}")
        if self.vae_chunk < 1:
            raise ValueError(f"model.vae_chunk must be >= 1, got {self.vae_chunk}")
        if not 1 <= self.vae_pad_to <= self.vae_chunk:
            raise ValueError(f"model.vae_pad_to must lie in [1, model.vae_chunk={self.vae_chunk}], got {self.vae_pad_to}")
        if self.compile_mode not in COMPILE_MODES:
            raise ValueError(f"model.compile_mode must be one of {COMPILE_MODES}, got {self.compile_mode!r}")
        if self.compile_mode != "default" and not (self.compile and self.compile_backend == "inductor"):
            raise ValueError(f"model.compile_mode={self.compile_mode} needs model.compile=true and "
                             "model.compile_backend=inductor")
        if self.compile_channels_last and not (self.compile and self.compile_backend == "inductor"):
            raise ValueError("model.compile_channels_last needs model.compile=true and model.compile_backend=inductor "
                             "(it is an option of Inductor's code generation)")
        if self.vae_tuning not in VAE_TUNINGS:
            raise ValueError(f"model.vae_tuning must be one of {VAE_TUNINGS}, got {self.vae_tuning!r}")
        if self.vae_tuning != "none" and not self.compile_vae:
            raise ValueError(f"model.vae_tuning={self.vae_tuning} needs model.compile_vae=true "
                             "(it tunes the compiled encoder's kernels)")
        try:
            fields = {f for _, f, _, _ in string.Formatter().parse(self.compile_cache or "") if f is not None}
        except ValueError as error:  # an unmatched brace
            raise ValueError(f"model.compile_cache={self.compile_cache!r}: {error}") from None
        if fields - {"device"}:
            raise ValueError(f"model.compile_cache={self.compile_cache!r}: the only placeholder is {{device}} "
                             "(the kind of card); remove the others")
        if self.arch == "pretrained" and not (self.sd_folder and self.image_encoder):
            raise ValueError(
                "model.arch=pretrained needs model.sd_folder (SD 1.5 in diffusers layout, for the UNet and VAE) "
                "and model.image_encoder (a CLIP vision folder); or use model.arch=tiny for a random model"
            )


@dataclass
class DataConfig:
    train_shards: str = ""
    """Shard folder, brace pattern or URL list of the training shards."""
    val_shards: str | None = None
    """Held-out shards for validation previews (None: no previews)."""
    batch_size: int = 1
    """Samples per GPU per step."""
    num_workers: int = 4
    """DataLoader worker processes per GPU."""
    batches_per_epoch: int = 1000
    """Batches each rank draws per epoch from the resampled stream."""
    shuffle_buffer: int = 64
    sample: SampleConfig = field(default_factory=SampleConfig)

    def __post_init__(self) -> None:
        if not self.train_shards:
            raise ValueError("data.train_shards is empty: give a shard folder, pattern or list")
        if self.batch_size < 1 or self.num_workers < 0 or self.batches_per_epoch < 1:
            raise ValueError("data.batch_size and data.batches_per_epoch must be >= 1, num_workers >= 0")


@dataclass
class OptimConfig:
    lr: float = 1e-5
    weight_decay: float = 1e-2
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    warmup_steps: int = 500
    schedule: str = "constant_with_warmup"
    """A diffusers ``get_scheduler`` name: constant_with_warmup, cosine, linear, ..."""
    grad_accum: int = 1
    max_grad_norm: float | None = 1.0
    fused: bool = True
    """Fused AdamW kernel where CUDA is used."""

    def __post_init__(self) -> None:
        if self.lr <= 0 or self.grad_accum < 1 or self.warmup_steps < 0:
            raise ValueError("optim.lr must be > 0, optim.grad_accum >= 1, optim.warmup_steps >= 0")


@dataclass
class EMAConfig:
    enabled: bool = True
    decay: float = 0.9999
    update_after_step: int = 0

    def __post_init__(self) -> None:
        if not 0 < self.decay < 1:
            raise ValueError(f"ema.decay must lie in (0, 1), got {self.decay}")


@dataclass
class CheckpointConfig:
    every_steps: int = 1000
    keep_last: int = 3
    resume: str | None = "latest"
    """``latest`` (the newest checkpoint in output_dir, if any), a checkpoint folder, or null."""
    export_ema: bool = True
    """Export the EMA weights (rather than the raw ones) at the end."""

    def __post_init__(self) -> None:
        if self.every_steps < 1 or self.keep_last < 1:
            raise ValueError("checkpoint.every_steps and checkpoint.keep_last must be >= 1")


@dataclass
class LogConfig:
    every_steps: int = 10
    tracker: str = "tensorboard"
    """tensorboard, wandb or none."""
    val_every_steps: int = 1000
    val_inference_steps: int = 20
    val_guidance: float = 3.5
    peak_tflops: float | None = None
    """Accelerator peak (dense) TFLOP/s for MFU; None: looked up from the device name."""

    def __post_init__(self) -> None:
        if self.tracker not in ("tensorboard", "wandb", "none"):
            raise ValueError(f"log.tracker must be tensorboard, wandb or none, got {self.tracker!r}")
        if self.every_steps < 1 or self.val_every_steps < 1 or self.val_inference_steps < 1:
            raise ValueError("log.every_steps, log.val_every_steps and log.val_inference_steps must be >= 1")


@dataclass
class TrainConfig:
    data: DataConfig
    stage: int = 1
    """1: image mode (ReferenceNet, spatial layers, pose, objects); 2: video mode (temporal layers)."""
    output_dir: str = "outputs/train"
    max_steps: int = 100_000
    seed: int = 0
    mixed_precision: str = "bf16"
    cpu: bool = False
    """Run on the CPU even where a GPU exists."""
    cudnn_benchmark: bool = True
    """Let cuDNN time its convolution algorithms on the first steps (training shapes are fixed)."""
    ddp_bucket_mb: int = 25
    """With several processes, the size of DDP's gradient buckets (MB), each all-reduced as soon as
    its gradients are ready; with ``model.compile``, Dynamo splits the compiled model at these
    buckets so that the all-reduce overlaps the rest of the backward."""
    model: ModelConfig = field(default_factory=ModelConfig)
    diffusion: DiffusionConfig = field(default_factory=DiffusionConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    ema: EMAConfig = field(default_factory=EMAConfig)
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)
    log: LogConfig = field(default_factory=LogConfig)

    def __post_init__(self) -> None:
        if self.stage not in (1, 2):
            raise ValueError(f"stage must be 1 or 2, got {self.stage}")
        if self.mixed_precision not in PRECISIONS:
            raise ValueError(f"mixed_precision must be one of {PRECISIONS}, got {self.mixed_precision!r}")
        if self.max_steps < 1:
            raise ValueError("max_steps must be >= 1")
        if self.ddp_bucket_mb < 1:
            raise ValueError(f"ddp_bucket_mb must be >= 1 (PyTorch's default is 25), got {self.ddp_bucket_mb}")
        if self.model.compile_mode in CUDA_GRAPH_MODES and self.optim.grad_accum > 1:
            # a CUDA graph's replay rewrites the memory of its last outputs, gradients included
            raise ValueError(f"model.compile_mode={self.model.compile_mode} replays CUDA graphs, which cannot accumulate "
                             "gradients over micro-batches: set optim.grad_accum=1 or another compile mode")
        mode = self.data.sample.mode
        if (self.stage, mode) not in ((1, "image"), (2, "video")):
            want = "image" if self.stage == 1 else "video"
            raise ValueError(
                f"stage {self.stage} trains in {want} mode but data.sample.mode={mode}: "
                f"set data.sample.mode={want} or stage={2 if self.stage == 1 else 1}"
            )
        if self.stage == 2 and self.model.arch == "pretrained" and not self.model.motion_module:
            raise ValueError("stage 2 adds AnimateDiff temporal layers: set model.motion_module (a local path)")
        if self.cpu and self.mixed_precision == "fp16":
            raise ValueError("fp16 mixed precision needs a GPU: use mixed_precision=bf16 or no with cpu=true")
        if self.optim.warmup_steps > self.max_steps:
            raise ValueError(f"optim.warmup_steps={self.optim.warmup_steps} exceeds max_steps={self.max_steps}")
