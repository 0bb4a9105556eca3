"""Sapiens pose/depth backends on tiny random weights in both official on-disk forms."""

import pickle
import sys
import types

import numpy as np
import pytest
import torch

from preprocess.annotators import build_annotator
from preprocess.annotators.base import AnnotationError
from preprocess.models.sapiens_load import build_from_checkpoint, load_state_dict
from preprocess.models.sapiens_vit import SapiensArch, build_sapiens

from .annot_clips import make_clip, person_segmentation, to_sample

TINY = SapiensArch(embed_dim=32, num_layers=2, num_heads=2, ffn_dim=64)
INPUT_HW = (64, 48)


def _tiny(task: str) -> torch.nn.Module:
    torch.manual_seed(0)
    model = build_sapiens(task, TINY, INPUT_HW, num_keypoints=17, head_deconv=(16, 16) if task == "pose" else (8,) * 4,
                          head_conv=(16, 16) if task == "pose" else (8, 8))
    with torch.no_grad():  # a non-zero position embedding, so that loading it matters
        model.backbone.pos_embed.normal_(0, 0.5)
    return model.eval()


def _save_mmengine_style(model: torch.nn.Module, path, monkeypatch) -> None:
    """Save as mmengine does: meta and message_hub hold objects of mmengine's own classes."""
    fake = types.ModuleType("mmengine.logging")
    hub_cls = type("MessageHub", (), {"__module__": "mmengine.logging", "__init__": lambda self: setattr(self, "log", {"x": 1})})
    fake.MessageHub = hub_cls
    with monkeypatch.context() as m:
        m.setitem(sys.modules, "mmengine", types.ModuleType("mmengine"))
        m.setitem(sys.modules, "mmengine.logging", fake)
        torch.save({"meta": {"epoch": 210, "hub": hub_cls()}, "state_dict": model.state_dict(), "message_hub": hub_cls()}, path)


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    root = tmp_path_factory.mktemp("sapiens")
    mp = pytest.MonkeyPatch()
    paths = {}
    for task in ("pose", "depth"):
        model = _tiny(task)
        _save_mmengine_style(model, root / f"{task}.pth", mp)
        traced = torch.jit.trace(model, torch.randn(1, 3, *INPUT_HW))
        traced.save(str(root / f"{task}_torchscript.pt2"))
        paths[task] = (root / f"{task}.pth", root / f"{task}_torchscript.pt2", model)
    return paths


def test_restricted_loader_reads_mmengine_checkpoint_without_mmengine(weights):
    pth, _, model = weights["pose"]
    assert "mmengine" not in sys.modules
    with pytest.raises(pickle.UnpicklingError):
        torch.load(pth, weights_only=True)
    state = load_state_dict(pth)
    assert state.keys() == model.state_dict().keys()
    rebuilt = build_from_checkpoint(pth, "pose", INPUT_HW, num_heads=2)
    x = torch.randn(2, 3, *INPUT_HW)
    with torch.no_grad():
        assert torch.allclose(rebuilt(x), model(x), atol=1e-6)
        assert rebuilt(x).shape == (2, 17, 16, 12)  # heatmaps at 1/4 of the input


@pytest.mark.parametrize("task", ["pose", "depth"])
def test_torchscript_path_equals_own_implementation(weights, task):
    pth, script, _ = weights[task]
    clip = make_clip()
    seg = person_segmentation(clip)
    common = dict(input_hw=INPUT_HW, num_heads=2, device="cpu", dtype="float32", batch_size=3, format="coco_17")
    own = build_annotator(task, "sapiens", dict(checkpoint=str(pth), **common))
    lite = build_annotator(task, "sapiens", dict(checkpoint=str(script), **common))
    own.setup(), lite.setup()
    a, b = own([clip], [seg])[0], lite([clip], [seg])[0]
    if task == "pose":
        a, b = a.keypoints, b.keypoints
    np.testing.assert_allclose(a, b, atol=1e-4, equal_nan=True)


def test_pose_and_depth_make_a_schema_v1_sample(weights):
    clip = make_clip(t=4)
    seg = person_segmentation(clip, empty_frames=(2,))
    cfg = dict(input_hw=INPUT_HW, num_heads=2, device="cpu", dtype="float32", batch_size=2, format="coco_17")
    # called as the annotate stage calls them: earlier roles' results as keywords
    pose = build_annotator("pose", "sapiens", dict(checkpoint=str(weights["pose"][0]), **cfg))(
        [clip], localisations=[None], segmentations=[seg])[0]
    depth = build_annotator("depth", "sapiens", dict(checkpoint=str(weights["depth"][0]), depth_scale=0.5, **cfg))(
        [clip], localisations=[None], segmentations=[seg], poses=[pose])[0]
    assert pose.format == "coco_17" and pose.keypoints.shape == (4, 17, 3) and pose.keypoints.dtype == np.float32
    kp = pose.keypoints
    assert (kp[2, :, 2] == 0).all() and (kp[[0, 1, 3], :, 2] >= 0).all()
    # keypoints fall inside the padded person crop around the mask
    assert (kp[..., 0] > 0).all() and (kp[..., 0] < 64).all()
    assert depth.shape == (4, 24, 32) and depth.dtype == np.float32
    assert np.isnan(depth[:, 0, 0]).all() and np.isfinite(depth[0, 12, 12]) and np.isnan(depth[2]).all()
    to_sample(clip, seg, kp, depth, "coco_17")


def test_empty_person_mask_is_a_clip_error(weights):
    clip = make_clip(t=2)
    seg = person_segmentation(clip, empty_frames=(0, 1))
    ok_clip = make_clip(t=2, seed=1)
    backend = build_annotator("pose", "sapiens", dict(checkpoint=str(weights["pose"][0]), input_hw=INPUT_HW, num_heads=2,
                                                      device="cpu", dtype="float32", format="coco_17"))
    bad, good = backend([clip, ok_clip], [seg, person_segmentation(ok_clip)])
    assert isinstance(bad, AnnotationError) and bad.reason == "empty_person_mask"
    assert good.keypoints.shape == (2, 17, 3)


def test_torch_export_archives_are_refused_with_advice(tmp_path):
    program = torch.export.export(torch.nn.Linear(2, 2), (torch.randn(1, 2),))
    torch.export.save(program, tmp_path / "sapiens_bfloat16.pt2")
    backend = build_annotator("pose", "sapiens", dict(checkpoint=str(tmp_path / "sapiens_bfloat16.pt2"), device="cpu"))
    with pytest.raises(ValueError, match="torchscript.pt2"):
        backend.setup()


def test_setup_logs_the_memory_it_holds(weights, caplog):
    backend = build_annotator("pose", "sapiens", dict(checkpoint=str(weights["pose"][1]), input_hw=INPUT_HW, device="cpu",
                                                      format="coco_17"))
    with caplog.at_level("INFO", logger="preprocess.models.device"):
        backend.setup()
    assert [r.getMessage() for r in caplog.records] == ["sapiens (pose_torchscript.pt2) on cpu"]


def test_missing_checkpoint_fails_at_construction(tmp_path):
    with pytest.raises(FileNotFoundError, match="sapiens-pose"):
        build_annotator("pose", "sapiens", dict(checkpoint=str(tmp_path / "nope.pth")))
    with pytest.raises(FileNotFoundError, match="no path given"):
        build_annotator("depth", "sapiens", {})


@pytest.mark.parametrize("task", ["pose", "depth"])
def test_channels_last_head_gives_the_same_output(task):
    from preprocess.models.sapiens_infer import speed_up_head

    model = _tiny(task)
    x = torch.randn(2, 3, *INPUT_HW)
    with torch.no_grad():
        expected = model(x)
        fast = speed_up_head(model, channels_last=True)
        head = fast.head if task == "pose" else fast.decode_head
        assert head.deconv_layers[0].weight.is_contiguous(memory_format=torch.channels_last)
        torch.testing.assert_close(fast(x), expected, rtol=1e-4, atol=1e-5)
    scripted = torch.jit.trace(_tiny(task), x)
    assert speed_up_head(scripted) is scripted  # other models pass through untouched


def test_fixed_batch_pads_short_batches_and_returns_only_real_crops():
    from preprocess.models.sapiens_infer import TopdownRunner

    seen = []
    model = _tiny("pose")

    def forward(x):
        seen.append(len(x))
        return model(x)

    frames = make_clip(t=5, h=64, w=48).frames
    boxes = np.tile(np.array([[4.0, 4.0, 40.0, 60.0]], np.float32), (5, 1))
    fixed = TopdownRunner(forward, INPUT_HW, torch.device("cpu"), torch.float32, batch_size=4, autocast=False, fixed_batch=True)
    plain = TopdownRunner(forward, INPUT_HW, torch.device("cpu"), torch.float32, batch_size=4, autocast=False)
    with torch.no_grad():
        padded, unpadded = fixed.keypoints(frames, boxes), plain.keypoints(frames, boxes)
    assert seen == [4, 4, 4, 1]  # the tail batch of 1 was padded to 4 for the fixed-shape runner only
    assert padded.shape == unpadded.shape == (5, 17, 3)
    np.testing.assert_allclose(padded, unpadded, rtol=1e-5, atol=1e-5)
