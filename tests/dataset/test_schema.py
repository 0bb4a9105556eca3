"""Shard schema v1: exact round trip, clear errors on malformed or foreign samples."""

import io
import json

import numpy as np
import pytest

from dataset.schema import (
    SCHEMA_VERSION,
    ClipMeta,
    ClipSample,
    SampleDecodeError,
    decode_sample,
    depth_tolerance,
    encode_sample,
    pack_masks,
    unpack_masks,
)


def make_sample(t=3, h=17, w=23, k=2, j=18, seed=0, depth_shape=None) -> ClipSample:
    rng = np.random.default_rng(seed)
    depth = rng.uniform(2.0, 9.0, size=(t, *(depth_shape or (h, w)))).astype(np.float32)
    if depth.shape[1] > 1:
        depth[:, 0, :] = np.nan  # rows without depth must survive as NaN
    meta = ClipMeta(
        source="s3://bucket/videos/clip 01.mp4",
        video_id="abc123",
        start_frame=42,
        num_frames=t,
        fps=15.0,
        width=w,
        height=h,
        keypoint_format="openpose_18",
        object_labels=["ball", "cup"][:k],
        boxes={"person": {"0": [1.0, 2.0, 10.0, 15.0]}},
        scores={"person_area": 0.3},
        annotators={"segment": "oracle@1"},
    )
    return ClipSample(
        key="abc123_000042",
        video=b"\x00\x00\x00\x18ftypmp42 not decoded here",
        meta=meta,
        character_mask=rng.random((t, h, w)) > 0.5,
        object_masks=rng.random((t, k, h, w)) > 0.7,
        keypoints=rng.uniform(0, 20, size=(t, j, 3)).astype(np.float32),
        depth=depth,
    )


@pytest.mark.parametrize(
    "t,h,w,k,depth_shape",
    [(3, 17, 23, 2, None), (1, 8, 8, 0, None), (5, 31, 7, 1, (4, 3)), (2, 1, 1, 1, None)],
)
def test_round_trip_is_exact(t, h, w, k, depth_shape):
    sample = make_sample(t=t, h=h, w=w, k=k, depth_shape=depth_shape)
    encoded = encode_sample(sample)
    assert set(encoded) == {"__key__", "mp4", "json", "mask.npz", "pose.npz", "depth.npz"}
    back = decode_sample(encoded)
    assert back.key == sample.key and back.video == sample.video and back.meta == sample.meta
    np.testing.assert_array_equal(back.character_mask, sample.character_mask)
    np.testing.assert_array_equal(back.object_masks, sample.object_masks)
    np.testing.assert_array_equal(back.keypoints, sample.keypoints)
    assert back.character_mask.dtype == bool and back.object_masks.dtype == bool
    finite = np.isfinite(sample.depth)
    np.testing.assert_array_equal(np.isfinite(back.depth), finite)
    lo, hi = sample.depth[finite].min(), sample.depth[finite].max()
    assert np.abs(back.depth[finite] - sample.depth[finite]).max() <= depth_tolerance(lo, hi)


def test_constant_and_empty_depth_survive():
    sample = make_sample()
    sample.depth[:] = 4.25
    np.testing.assert_array_equal(decode_sample(encode_sample(sample)).depth, sample.depth)
    sample.depth[:] = np.nan
    assert np.isnan(decode_sample(encode_sample(sample)).depth).all()


def test_masks_are_bit_packed():
    masks = np.ones((16, 64, 64), bool)
    packed = pack_masks(masks)
    assert packed["bits"].nbytes == masks.size // 8
    np.testing.assert_array_equal(unpack_masks(packed["bits"], packed["shape"]), masks)


def _broken(member, value):
    encoded = encode_sample(make_sample())
    if value is None:
        del encoded[member]
    else:
        encoded[member] = value
    return encoded


def _json_with(**changes):
    meta = json.loads(encode_sample(make_sample())["json"])
    meta.update(changes)
    return json.dumps(meta).encode()


def _npz(**arrays):
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


@pytest.mark.parametrize(
    "member,value,needle",
    [
        ("mask.npz", None, "missing"),
        ("json", b"{not json", "not clip metadata"),
        ("json", b'{"caption": "a laion sample"}', "not clip metadata"),
        ("json", _json_with(schema_version=SCHEMA_VERSION + 1), "schema_version"),
        ("json", _json_with(num_frames=99), "disagree"),
        ("mask.npz", b"garbage bytes", "not a readable npz"),
        ("pose.npz", _npz(points=np.zeros(3)), "missing arrays"),
        ("pose.npz", _npz(keypoints=np.zeros((3, 18, 3), np.float32), format=np.asarray("coco_17")), "format"),
        ("depth.npz", _npz(depth=np.zeros((3, 2, 2), np.uint8)), "missing arrays"),
        ("mask.npz", _npz(character_bits=np.zeros(1, np.uint8), character_shape=np.asarray([3, 17, 23]),
                          objects_bits=np.zeros(1, np.uint8), objects_shape=np.asarray([3, 2, 17, 23])), "bit arrays"),
    ],
)
def test_malformed_sample_names_key_and_member(member, value, needle):
    with pytest.raises(SampleDecodeError) as info:
        decode_sample(_broken(member, value))
    assert info.value.key == "abc123_000042"
    assert info.value.member == member
    assert needle in str(info.value)


def test_inconsistent_sample_is_refused_at_construction():
    sample = make_sample()
    with pytest.raises(ValueError, match="object labels"):
        ClipSample(**{**sample.__dict__, "object_masks": sample.object_masks[:, :1]})
    with pytest.raises(ValueError, match="must not contain"):
        ClipSample(**{**sample.__dict__, "key": "abc.def"})
