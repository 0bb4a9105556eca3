"""The typed batch: shapes, value ranges after unpacking, masks applied, device moves."""

import numpy as np
import pytest
import torch

from dataset.batch import collate
from dataset.reference import CLIP_MEAN, CLIP_STD
from dataset.sample_config import SampleConfig
from dataset.training_sample import build_sample
from tests.dataset.conftest import make_clip


@pytest.fixture(scope="module")
def samples():
    clip = make_clip("vid_000000", num_frames=12, hw=(64, 80), seed=2)
    cfg = SampleConfig(height=32, width=48, num_frames=4, stride=2)
    return [build_sample(clip, cfg, np.random.default_rng(i)) for i in range(3)]


def test_packed_shapes_are_compact(samples):
    b = collate(samples)
    assert b.packed and len(b) == 3 and b.num_frames == 4
    assert b.frames.shape == (3, 3, 4, 32, 48) and b.frames.dtype == torch.uint8
    assert b.mask.shape == (3, 1, 4, 32, 48) and b.mask.dtype == torch.bool
    assert b.reference.shape == (3, 3, 32, 48) and b.reference_clip.shape == (3, 3, 224, 224)


def test_unpacked_ranges_and_masking(samples):
    b = collate(samples).to("cpu")
    assert not b.packed and b.frames.dtype == torch.float32
    for name in ("frames", "environment", "objects", "reference"):
        t = getattr(b, name)
        assert t.min() >= -1 and t.max() <= 1, name
    for name in ("skeleton", "struct_depth", "mask", "object_mask", "character"):
        t = getattr(b, name)
        assert t.min() >= 0 and t.max() <= 1, name
    assert set(b.mask.unique().tolist()) <= {0.0, 1.0}
    assert torch.all(b.environment * b.mask == 0) and torch.all(b.objects * (1 - b.object_mask) == 0)
    expected = (torch.from_numpy(samples[0].frames).permute(3, 0, 1, 2).float() / 127.5 - 1)
    assert torch.allclose(b.frames[0], expected)
    clip0 = torch.from_numpy(samples[0].reference_clip).permute(2, 0, 1).float() / 255
    normalised = (clip0 - torch.tensor(CLIP_MEAN).view(3, 1, 1)) / torch.tensor(CLIP_STD).view(3, 1, 1)
    assert torch.allclose(b.reference_clip[0], normalised, atol=1e-5)


def test_unpack_is_idempotent_and_dtype_follows(samples):
    b = collate(samples).to("cpu", dtype=torch.bfloat16)
    assert b.frames.dtype == torch.bfloat16 and b.unpack() is b


def test_empty_collate_raises():
    with pytest.raises(ValueError):
        collate([])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_pinned_and_moved_to_gpu(samples):
    b = collate(samples).pin_memory()
    assert b.frames.is_pinned()
    g = b.to("cuda")
    assert g.frames.is_cuda and g.frames.dtype == torch.float32 and g.mask.max() <= 1


def test_collate_notes_which_frames_show_objects(samples):
    from dataclasses import replace

    hidden = samples[1].object_mask.copy()
    hidden[[0, 2]] = 0  # frames 0 and 2 of the second sample show no object
    b = collate([samples[0], replace(samples[1], object_mask=hidden), samples[2]])
    assert b.object_shown.tolist()[4:8] == [False, True, False, True]
    per_frame = b.object_mask.flatten(3).any(dim=3)[:, 0]  # [B, F]
    assert b.object_shown.tolist() == per_frame.flatten().tolist()  # sample-major, as the frames are stacked
    assert b.to("cpu").object_shown is b.object_shown  # carried through the move, not recomputed
