"""SAM2.1 video-propagation throughput on one GPU: the stock predictor against our path.

Full-size architectures with random weights, ``tracks`` tracks (a person box, then object boxes)
boxed on ``keyframes`` (default: two tracks boxed on frame 0). The stock predictor runs memory
attention, mask decoder and memory encoder per object and frame, so its frames/s falls with the
number of tracks; ours runs the objects whose memories hold the same frames as one batch
(``batch_objects``). Prompts on more keyframes add conditioning frames to attend to.

- ``stock``: sam2 as its README runs it: ``init_state`` on a JPEG folder, ``propagate_in_video``
  and a ``.cpu()`` of every frame's masks; timed with and without loading the frames;
- ``ours``: :func:`preprocess.models.sam2_track.track_clip` on frames in memory, image features
  encoded ``feature_batch`` frames a pass, masks moved to the host once per direction; also with
  objects one at a time (``batch_objects=False``), with the other weight storage (``bf16_weights``,
  no component wholly in bf16),
  with the other setting of ``bf16_modules`` (none of the components wholly in bf16 when the
  default names some, all of them when it names none), and
  with the defaults once more after these variants (the rate drifts within a run);
- ``procs``: several worker processes, each tracking its own clip on the same GPU at once, as
  several annotate actors with fractional GPUs do in the pipeline (aggregate frames/s);
- ``compiled``: the same with sam2's ``vos_optimized`` compilation (optional; its compile time is reported).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

from tools.timing import sync

SAM2_CONFIGS = {"sam2.1_b+": "configs/sam2.1/sam2.1_hiera_b+.yaml", "sam2.1_l": "configs/sam2.1/sam2.1_hiera_l.yaml"}
SAM2_TINY = [
    "++model.image_encoder.trunk.embed_dim=8", "++model.image_encoder.trunk.num_heads=1",
    "++model.image_encoder.trunk.stages=[1,2,1,1]", "++model.image_encoder.trunk.global_att_blocks=[2]",
    "++model.image_encoder.trunk.window_pos_embed_bkg_spatial_size=[2,2]", "++model.image_encoder.neck.d_model=32",
    "++model.image_encoder.neck.backbone_channel_list=[64,32,16,8]", "++model.image_encoder.neck.position_encoding.num_pos_feats=32",
    "++model.memory_attention.d_model=32", "++model.memory_attention.num_layers=1", "++model.memory_attention.layer.d_model=32",
    "++model.memory_attention.layer.dim_feedforward=32", "++model.memory_attention.layer.self_attention.embedding_dim=32",
    "++model.memory_attention.layer.self_attention.feat_sizes=[8,8]", "++model.memory_attention.layer.cross_attention.embedding_dim=32",
    "++model.memory_attention.layer.cross_attention.feat_sizes=[8,8]", "++model.memory_attention.layer.cross_attention.kv_in_dim=16",
    "++model.memory_encoder.out_dim=16", "++model.memory_encoder.position_encoding.num_pos_feats=16",
    "++model.memory_encoder.fuser.layer.dim=32", "++model.memory_encoder.in_dim=32",
    "++model.memory_encoder.mask_downsampler.embed_dim=32", "++model.image_size=128",
]  # fmt: skip
# Our path reads the masks with this threshold on the logits: every frame's mask is kept. With
# random weights, masks at the usual threshold (0) vanish, and a track whose mask has vanished is
# not carried into the clip's next 64-frame chunk, so later chunks would track fewer objects than
# the stock predictor, which tracks both to the end; the threshold only reads the logits.
HOLD_TRACKS = -1e9
WARMUP_FRAMES = 16  # past the memory bank's fill-up (7 frames): shapes settle, kernels are ready


def clip_frames(num: int, hw: tuple[int, int], seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(num, *hw, 3), dtype=np.uint8)


def box_prompts(hw: tuple[int, int], tracks: int = 2, keyframes: tuple[int, ...] = (0,)) -> dict:
    """Track id -> {keyframe: box}: a person-sized box, then smaller object boxes across the frame."""
    h, w = hw
    boxes = [(w * 0.3, h * 0.1, w * 0.6, h * 0.95)]
    boxes += [(w * x, h * 0.5, w * (x + 0.15), h * 0.7) for x in np.linspace(0.05, 0.8, max(1, tracks - 1))]
    return {t: {f: boxes[t] for f in keyframes} for t in range(tracks)}


def _build(name: str, device, tiny: bool, feature_batch: int, compile: bool, batch_objects: bool = True,
           bf16_weights: bool | None = None, bf16_modules: list[str] | None = None):
    """Our predictor with the pipeline's settings (:class:`Sam2Config`) unless told otherwise."""
    from preprocess.annotators.sam2_video import Sam2Config, build_predictor

    defaults = Sam2Config()
    bf16_weights = defaults.bf16_weights if bf16_weights is None else bf16_weights
    bf16_modules = defaults.bf16_modules if bf16_modules is None else bf16_modules
    return build_predictor(SAM2_CONFIGS[name], None, device, SAM2_TINY if tiny else [], feature_batch, compile,
                           batch_objects=batch_objects, bf16_weights=bf16_weights,
                           bf16_modules=bf16_modules)


def stock_rates(name: str, frames: np.ndarray, device, tiny: bool, prompts: dict) -> dict:
    """The stock predictor over a JPEG folder, as sam2's README runs it."""
    import cv2
    import torch
    from sam2.build_sam import build_sam2_video_predictor

    predictor = build_sam2_video_predictor(SAM2_CONFIGS[name], None, device=device,
                                           hydra_overrides_extra=SAM2_TINY if tiny else [])
    with tempfile.TemporaryDirectory() as folder:
        for i, frame in enumerate(frames):
            cv2.imwrite(str(Path(folder) / f"{i:05d}.jpg"), frame[..., ::-1])

        def run(count: int) -> tuple[float, float]:
            start = time.perf_counter()
            with torch.inference_mode(), torch.autocast(device.type, dtype=torch.bfloat16):
                state = predictor.init_state(folder)
                loaded = time.perf_counter()
                for obj, boxes in prompts.items():
                    for frame, box in boxes.items():
                        if frame < count:
                            predictor.add_new_points_or_box(state, frame_idx=frame, obj_id=obj,
                                                            box=np.asarray(box, np.float32))
                masks = {}
                for f, obj_ids, logits in predictor.propagate_in_video(state, max_frame_num_to_track=count - 1):
                    masks[f] = {o: (logits[i] > 0).cpu().numpy() for i, o in enumerate(obj_ids)}
            sync(device)
            return loaded - start, time.perf_counter() - loaded

        run(WARMUP_FRAMES)
        load_s, track_s = run(len(frames))
    return {"stock_fps": round(len(frames) / track_s, 2), "stock_fps_with_loading": round(len(frames) / (load_s + track_s), 2)}


def ours_rate(predictor, frames: np.ndarray, device, prompts: dict) -> float:
    from preprocess.models.sam2_track import track_clip

    track_clip(predictor, frames[:WARMUP_FRAMES], prompts, chunk=64, threshold=HOLD_TRACKS)
    sync(device)
    start = time.perf_counter()
    track_clip(predictor, frames, prompts, chunk=64, threshold=HOLD_TRACKS)
    sync(device)
    return len(frames) / (time.perf_counter() - start)


def _worker(rank: int, name: str, num: int, hw, tiny: bool, feature_batch: int, prompts: dict, barrier, queue) -> None:
    import torch

    from preprocess.models.sam2_track import track_clip

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.type == "cpu":
        torch.set_num_threads(1)
    predictor = _build(name, device, tiny, feature_batch, False)
    frames = clip_frames(num, hw, seed=rank)
    track_clip(predictor, frames[:WARMUP_FRAMES], prompts, chunk=64, threshold=HOLD_TRACKS)
    sync(device)
    barrier.wait()
    start = time.time()
    track_clip(predictor, frames, prompts, chunk=64, threshold=HOLD_TRACKS)
    sync(device)
    queue.put((start, time.time(), num))


def concurrent_rate(name: str, procs: int, num: int, hw, tiny: bool, feature_batch: int, prompts: dict) -> float:
    """Aggregate frames/s of ``procs`` processes tracking their own clips on one GPU at once."""
    import torch.multiprocessing as mp

    ctx = mp.get_context("spawn")
    barrier, queue = ctx.Barrier(procs), ctx.Queue()
    workers = [ctx.Process(target=_worker, args=(r, name, num, hw, tiny, feature_batch, prompts, barrier, queue)) for r in range(procs)]
    for w in workers:
        w.start()
    results = [queue.get(timeout=900) for _ in workers]
    for w in workers:
        w.join()
    wall = max(end for _, end, _ in results) - min(start for start, _, _ in results)
    return sum(n for _, _, n in results) / wall


def bench_sam2(name: str, frames: np.ndarray, device, tiny: bool, feature_batch: int = 8, procs=(), compile: bool = False,
               stock: bool = True, tracks: int = 2, keyframes: tuple[int, ...] = (0,)) -> dict:
    import torch

    from preprocess.annotators.sam2_video import BF16_MODULES, Sam2Config

    prompts = box_prompts(frames.shape[1:3], tracks, keyframes)
    row = {"model": name, "what": f"video propagation, {tracks} tracks boxed on frames {list(keyframes)}",
           "frames": len(frames), "frame_hw": list(frames.shape[1:3])}
    if stock:
        row.update(stock_rates(name, frames, device, tiny, prompts))
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    for batch in sorted({1, feature_batch}):
        row[f"ours_fps_feature_batch_{batch}"] = round(ours_rate(_build(name, device, tiny, batch, False), frames, device, prompts), 2)
    row["frames_per_s"] = row[f"ours_fps_feature_batch_{feature_batch}"]
    if tracks > 1:  # the same path with sam2's one-object-at-a-time frame step
        one = _build(name, device, tiny, feature_batch, False, batch_objects=False)
        row["ours_objects_one_at_a_time_fps"] = round(ours_rate(one, frames, device, prompts), 2)
    # the weights' other storage (float32 cast by autocast at each call, or bf16), with no component
    # wholly in bf16, which would store its weights in bf16 whatever this says
    other = not Sam2Config().bf16_weights
    predictor = _build(name, device, tiny, feature_batch, False, bf16_weights=other, bf16_modules=[])
    row[f"ours_{'bf16' if other else 'fp32'}_weights_fps"] = round(ours_rate(predictor, frames, device, prompts), 2)
    other = [] if Sam2Config().bf16_modules else list(BF16_MODULES)
    predictor = _build(name, device, tiny, feature_batch, False, bf16_modules=other)
    row[f"ours_{'' if other else 'no_'}bf16_modules_fps"] = round(ours_rate(predictor, frames, device, prompts), 2)
    # the defaults once more, after the variants: the rate drifts within a run (clocks, allocator),
    # and a variant timed later than the defaults would otherwise get the drift as its own gain
    row["ours_defaults_again_fps"] = round(ours_rate(_build(name, device, tiny, feature_batch, False), frames, device,
                                                     prompts), 2)
    if device.type == "cuda":
        row["peak_gib"] = round(torch.cuda.max_memory_allocated(device) / 2**30, 2)
    for n in procs:
        row[f"procs_{n}_fps"] = round(concurrent_rate(name, n, len(frames), frames.shape[1:3], tiny, feature_batch, prompts), 2)
    if compile:
        start = time.perf_counter()
        predictor = _build(name, device, tiny, feature_batch, True)
        row["compiled_fps"] = round(ours_rate(predictor, frames, device, prompts), 2)
        row["compiled_total_s_with_compile"] = round(time.perf_counter() - start, 1)
    if "stock_fps" in row:
        ours = [row["frames_per_s"]] + [v for k, v in row.items() if k.startswith(("procs_", "compiled_")) and k.endswith("_fps")]
        best = max(ours)
        row["best_over_stock"] = round(best / row["stock_fps"], 2)
    return row
