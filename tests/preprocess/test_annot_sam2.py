"""SAM2 video backend on a tiny random-weight SAM2.1 built from the packaged config."""

import numpy as np
import pytest
import torch

from preprocess.annotators import build_annotator
from preprocess.annotators.base import AnnotationError, Localisation, ObjectTrack
from preprocess.models.sam2_track import chunk_spans

from .annot_clips import make_clip, to_sample

CONFIG = "configs/sam2.1/sam2.1_hiera_t.yaml"
# Shrinks hiera-t to ~0.8 M parameters at a 128-pixel input (a global block must not open a stage).
TINY = [
    "++model.image_encoder.trunk.embed_dim=8", "++model.image_encoder.trunk.num_heads=1",
    "++model.image_encoder.trunk.stages=[1,2,1,1]", "++model.image_encoder.trunk.global_att_blocks=[2]",
    "++model.image_encoder.trunk.window_pos_embed_bkg_spatial_size=[2,2]",
    "++model.image_encoder.neck.d_model=32", "++model.image_encoder.neck.backbone_channel_list=[64,32,16,8]",
    "++model.image_encoder.neck.position_encoding.num_pos_feats=32",
    "++model.memory_attention.d_model=32", "++model.memory_attention.num_layers=1",
    "++model.memory_attention.layer.d_model=32", "++model.memory_attention.layer.dim_feedforward=32",
    "++model.memory_attention.layer.self_attention.embedding_dim=32",
    "++model.memory_attention.layer.self_attention.feat_sizes=[8,8]",
    "++model.memory_attention.layer.cross_attention.embedding_dim=32",
    "++model.memory_attention.layer.cross_attention.feat_sizes=[8,8]",
    "++model.memory_attention.layer.cross_attention.kv_in_dim=16",
    "++model.memory_encoder.out_dim=16", "++model.memory_encoder.position_encoding.num_pos_feats=16",
    "++model.memory_encoder.fuser.layer.dim=32", "++model.memory_encoder.in_dim=32",
    "++model.memory_encoder.mask_downsampler.embed_dim=32", "++model.image_size=128",
]  # fmt: skip


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    from sam2.build_sam import build_sam2_video_predictor

    torch.manual_seed(0)
    model = build_sam2_video_predictor(CONFIG, None, device="cpu", hydra_overrides_extra=TINY)
    path = tmp_path_factory.mktemp("sam2") / "sam2.1_tiny.pt"
    torch.save({"model": model.state_dict()}, path)  # the layout of the official checkpoints
    return path


def _backend(checkpoint, **kw):
    backend = build_annotator("segment", "sam2", dict(checkpoint=str(checkpoint), config=CONFIG, overrides=TINY, device="cpu", **kw))
    backend.setup()
    return backend


def _loc(t):
    return Localisation(person={0: (16.0, 12.0, 32.0, 37.0)},
                        objects=[ObjectTrack("ball", {0: (40.0, 30.0, 50.0, 40.0)}), ObjectTrack("ghost", {})])


def test_chunk_spans_overlap_by_one_frame():
    assert chunk_spans(7, 3) == [(0, 3), (2, 5), (4, 7)]
    assert chunk_spans(3, 8) == [(0, 3)]
    with pytest.raises(ValueError):
        chunk_spans(5, 1)


def test_masks_carry_across_chunks_into_frames_without_keyframes(checkpoint):
    clip = make_clip(t=5)
    # a logit threshold below every logit: every tracked pixel is on, so a frame is empty only
    # when its track was not carried into its chunk
    seg = _backend(checkpoint, chunk=3, threshold=-1e9)([clip], localisations=[_loc(5)])[0]  # chunks [0, 3), [2, 5)
    assert seg.character.shape == (5, 48, 64) and seg.objects.shape == (5, 1, 48, 64)
    assert seg.labels == ["ball"]  # a track without boxes is not prompted
    assert seg.character.all() and seg.objects.all()
    to_sample(clip, seg, np.zeros((5, 17, 3), np.float32), np.zeros((5, 1, 1), np.float32), "coco_17")


def test_object_boxed_late_is_carried_back_into_earlier_chunks(checkpoint):
    clip = make_clip(t=5)
    loc = Localisation(person={0: (16.0, 12.0, 32.0, 37.0)}, objects=[ObjectTrack("ball", {4: (40.0, 30.0, 50.0, 40.0)})])
    seg = _backend(checkpoint, chunk=3, threshold=-1e9)([clip], localisations=[loc])[0]  # chunks [0, 3), [2, 5)
    assert seg.objects[:, 0].reshape(5, -1).all(axis=1).tolist() == [True] * 5


def test_random_weights_track_runs_at_the_real_threshold(checkpoint):
    clip = make_clip(t=3)
    out = _backend(checkpoint, chunk=64, max_empty_fraction=1.0)([clip], [_loc(3)])[0]
    if isinstance(out, AnnotationError):  # random weights may segment nothing; that must be the reason
        assert out.reason == "empty_person_mask"
    else:
        assert out.character.dtype == bool and out.character.shape == (3, 48, 64)


def test_empty_and_missing_prompts_are_clip_errors(checkpoint):
    clip = make_clip(t=3)
    backend = _backend(checkpoint, threshold=1e9)
    empty, no_box = backend([clip, clip], [_loc(3), Localisation(person={})])
    assert isinstance(empty, AnnotationError) and empty.reason == "empty_person_mask"
    assert isinstance(no_box, AnnotationError) and no_box.reason == "no_person_box"


def test_in_memory_state_matches_the_jpeg_folder_state(checkpoint, tmp_path):
    import cv2

    clip = make_clip(t=2)
    for i, frame in enumerate(clip.frames):
        cv2.imwrite(str(tmp_path / f"{i}.jpg"), frame[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 100])
    predictor = _backend(checkpoint, bf16_weights=False).predictor  # the stock init_state encodes frame 0 without autocast
    ours = predictor.init_state_from_frames(torch.from_numpy(clip.frames))
    stock = predictor.init_state(str(tmp_path))
    assert ours.keys() == stock.keys()
    assert ours["images"].shape == stock["images"].shape
    assert (ours["video_height"], ours["video_width"]) == (stock["video_height"], stock["video_width"])
    assert (ours["images"] - stock["images"]).abs().mean() < 0.15  # resize filters differ slightly


def test_missing_checkpoint_fails_at_construction(tmp_path):
    with pytest.raises(FileNotFoundError, match="sam2.1_hiera_base_plus"):
        build_annotator("segment", "sam2", dict(checkpoint=str(tmp_path / "missing.pt")))


def test_feature_window_follows_the_direction_of_travel():
    from preprocess.models.sam2_frames import feature_window

    assert feature_window(3, 10, 4, backward=False) == [3, 4, 5, 6]
    assert feature_window(5, 10, 4, backward=True) == [2, 3, 4, 5]
    # at the clip's ends the window shifts back inside: every pass encodes that many real frames
    assert feature_window(8, 10, 4, backward=False) == [6, 7, 8, 9]
    assert feature_window(1, 10, 4, backward=True) == [0, 1, 2, 3]
    assert feature_window(1, 3, 4, backward=False) == [0, 1, 2]  # a clip shorter than a window


def test_batched_image_features_give_the_masks_of_frame_by_frame_encoding(checkpoint):
    from preprocess.models.sam2_track import track_clip

    clip = make_clip(t=9)
    # prompts in the middle: propagation runs forward, then backward from frame 4
    prompts = {0: {4: (16.0, 12.0, 32.0, 37.0)}, 1: {4: (40.0, 30.0, 50.0, 40.0)}}
    predictor = _backend(checkpoint).predictor
    calls = []
    encode = predictor.forward_image
    predictor.forward_image = lambda images: calls.append(len(images)) or encode(images)
    masks, passes = {}, {}
    for batch in (1, 4):
        predictor.feature_batch, calls[:] = batch, []
        masks[batch] = track_clip(predictor, clip.frames, prompts, chunk=64, threshold=0.0)
        passes[batch] = len(calls)
    assert passes[1] >= 9 and passes[4] <= 5  # whole frames per pass: 1 vs up to 4 (padded to 4)
    assert masks[1].shape == (9, 2, 48, 64)
    assert (masks[1] == masks[4]).mean() > 0.999


def test_feature_cache_encodes_each_frame_about_once_with_prompts_on_several_keyframes(checkpoint):
    from preprocess.models.sam2_track import track_clip

    clip = make_clip(t=24)
    box = (16.0, 12.0, 32.0, 37.0)
    prompts = {0: {f: box for f in (0, 8, 16, 23)}, 1: {f: (40.0, 30.0, 50.0, 40.0) for f in (0, 12, 23)}}
    predictor = _backend(checkpoint).predictor
    predictor.feature_batch = 4
    encoded = []
    encode = predictor.forward_image
    predictor.forward_image = lambda images: encoded.append(len(images)) or encode(images)
    masks, frames = {}, {}
    for cache in (4, 24):  # one window: every jump between keyframes re-encodes one
        predictor.feature_cache, encoded[:] = cache, []
        masks[cache] = track_clip(predictor, clip.frames, prompts, chunk=64, threshold=0.0)
        frames[cache] = sum(encoded)
    assert frames[24] <= 24 + 2 * 4 < frames[4]  # each frame about once (a window may be encoded twice at turns)
    assert (masks[4] == masks[24]).all()  # caching changes the work, not the masks


def test_objects_tracked_as_one_batch_follow_the_one_at_a_time_logits(checkpoint):
    from preprocess.models.sam2_track import track_clip

    clip = make_clip(t=24)
    # chunks of 8 frames; track 2 is first boxed on frame 5, so its memory differs from the others'
    # until the next chunk, where every track is re-prompted from its carried mask
    prompts = {0: {0: (16.0, 12.0, 32.0, 37.0), 12: (16.0, 12.0, 32.0, 37.0)}, 1: {0: (40.0, 30.0, 50.0, 40.0)},
               2: {5: (2.0, 2.0, 14.0, 20.0)}, 3: {0: (30.0, 2.0, 60.0, 20.0)}}
    predictor = _backend(checkpoint).predictor
    passes = []
    step = predictor.track_step
    predictor.track_step = lambda *a, **kw: passes.append(1) or step(*a, **kw)  # one model pass over a batch of tracks
    logits, masks, model_passes = {}, {}, {}
    for batched in (False, True):
        predictor.batch_objects = batched
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
            state = predictor.init_state_from_frames(torch.from_numpy(clip.frames[:8]))
            for track, boxes in prompts.items():
                for frame, box in boxes.items():
                    if frame < 8:
                        predictor.add_new_points_or_box(state, frame_idx=frame, obj_id=track, box=np.asarray(box, np.float32))
            logits[batched] = [(reverse, f, ids, m.float()) for reverse in (False, True)
                               for f, ids, m in predictor.propagate_in_video(state, reverse=reverse)]
        passes.clear()
        masks[batched] = track_clip(predictor, clip.frames, prompts, chunk=8, threshold=0.0)
        model_passes[batched] = len(passes)
    assert [x[:3] for x in logits[True]] == [x[:3] for x in logits[False]]  # the same frames, order and tracks
    for (*_, a), (*_, b) in zip(logits[False], logits[True]):
        torch.testing.assert_close(b, a, atol=2e-2, rtol=0)  # batched bf16 arithmetic, not the same rounding
    assert (masks[True] == masks[False]).mean() > 0.99
    assert model_passes[True] < 0.5 * model_passes[False]  # the host's work: one pass a frame for a group, not one per track


def test_compile_is_for_cuda_only(checkpoint):
    from sam2.sam2_video_predictor import SAM2VideoPredictorVOS

    predictor = _backend(checkpoint, compile=True, feature_batch=3).predictor  # device cpu
    assert not isinstance(predictor, SAM2VideoPredictorVOS) and predictor.feature_batch == 3


def test_bf16_weights_skip_autocast_casts_and_keep_the_masks(checkpoint):
    from torch.utils._python_dispatch import TorchDispatchMode

    from preprocess.models.sam2_track import track_clip

    class CountCasts(TorchDispatchMode):
        casts = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            self.casts += func is torch.ops.aten.to.dtype  # autocast's cast of a float32 weight or input
            return func(*args, **(kwargs or {}))

    clip = make_clip(t=12)
    prompts = {0: {0: (16.0, 12.0, 32.0, 37.0)}, 1: {0: (40.0, 30.0, 50.0, 40.0)}}
    masks, casts = {}, {}
    for bf16 in (False, True):
        predictor = _backend(checkpoint, bf16_weights=bf16, bf16_modules=[]).predictor
        linear = next(m for m in predictor.modules() if isinstance(m, torch.nn.Linear))
        norm = next(m for m in predictor.modules() if isinstance(m, torch.nn.LayerNorm))
        assert linear.weight.dtype == (torch.bfloat16 if bf16 else torch.float32) and norm.weight.dtype == torch.float32
        with CountCasts() as counter:
            masks[bf16] = track_clip(predictor, clip.frames, prompts, chunk=64, threshold=0.0)
        casts[bf16] = counter.casts
    assert casts[True] < 0.5 * casts[False]
    assert (masks[True] == masks[False]).mean() > 0.999


def test_bf16_modules_run_without_float32_activations_and_keep_the_masks(checkpoint):
    """Under autocast, norms and residual streams stay float32 and each matrix product first casts
    its input; components named in ``bf16_modules`` see only bf16 inside, with fewer casts."""
    from torch.utils._python_dispatch import TorchDispatchMode

    from preprocess.annotators.sam2_video import BF16_MODULES
    from preprocess.models.sam2_track import track_clip

    class CountCasts(TorchDispatchMode):
        casts = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            self.casts += func is torch.ops.aten.to.dtype
            return func(*args, **(kwargs or {}))

    clip = make_clip(t=12)
    prompts = {0: {0: (16.0, 12.0, 32.0, 37.0)}, 1: {0: (40.0, 30.0, 50.0, 40.0)}}
    masks, casts, seen = {}, {}, {}
    for modules in ([], list(BF16_MODULES)):
        predictor = _backend(checkpoint, bf16_modules=modules).predictor
        key = bool(modules)
        seen[key] = {name: set() for name in BF16_MODULES}
        for name in BF16_MODULES:  # the dtype of every floating input of each layer with weights inside each component
            for layer in (m for m in getattr(predictor, name).modules() if list(m.parameters(recurse=False))):
                layer.register_forward_pre_hook(lambda m, args, dtypes=seen[key][name]: dtypes.update(
                    a.dtype for a in args if isinstance(a, torch.Tensor) and a.is_floating_point()))
        with CountCasts() as counter:
            masks[key] = track_clip(predictor, clip.frames, prompts, chunk=64, threshold=0.0)
        casts[key] = counter.casts
    for name in BF16_MODULES:
        assert torch.float32 in seen[False][name], name  # autocast: float32 activations inside
        assert seen[True][name] == {torch.bfloat16}, name
    assert casts[True] <= 0.6 * casts[False]  # sam2's rotary encoding still casts queries and keys to float32
    assert (masks[True] == masks[False]).mean() > 0.99
    with pytest.raises(ValueError, match=r"bf16_modules: unknown \['sam_prompt_encoder'\]; choose from"):
        _backend(checkpoint, bf16_modules=["sam_prompt_encoder"])
    with pytest.raises(ValueError, match=r"a list of names, e.g. \[image_encoder\]"):
        _backend(checkpoint, bf16_modules="image_encoder")
