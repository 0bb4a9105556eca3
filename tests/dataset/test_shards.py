"""ShardWriter: byte caps, contiguous sorted members, manifests, atomic commit."""

import tarfile

import numpy as np
import pytest

from dataset.shards import ShardWriter, iter_samples, list_shards, read_manifests
from tests.dataset.test_schema import make_sample


def samples(n, **kw):
    out = []
    for i in range(n):
        s = make_sample(seed=i, **kw)
        s.key = f"vid{i:03d}_000000"
        out.append(s)
    return out


def test_shards_are_capped_and_round_trip(tmp_path):
    items = samples(7, t=4, h=32, w=32)
    with ShardWriter(tmp_path, max_bytes=20_000) as writer:
        for s in items:
            writer.write(s, extra={"split": "train"})
    tars = list_shards(tmp_path)
    assert len(tars) > 1 and tars == writer.written
    assert all(t.stat().st_size <= 20_000 + 10_240 for t in tars)  # cap plus tar end padding
    back = [s for t in tars for s in iter_samples(t)]
    assert [s.key for s in back] == [s.key for s in items]
    for a, b in zip(items, back):
        np.testing.assert_array_equal(a.character_mask, b.character_mask)
    manifest = read_manifests(tmp_path)
    assert manifest.column("key").to_pylist() == [s.key for s in items]
    assert set(manifest.column("split").to_pylist()) == {"train"}
    assert all(n > 0 for n in manifest.column("bytes_mask_npz").to_pylist())
    assert not list(tmp_path.glob("*.tmp"))


def test_members_of_a_sample_are_contiguous(tmp_path):
    with ShardWriter(tmp_path) as writer:
        for s in samples(3):
            writer.write(s)
    names = tarfile.open(list_shards(tmp_path)[0]).getnames()
    keys = [n.split(".", 1)[0] for n in names]
    runs = [k for i, k in enumerate(keys) if i == 0 or keys[i - 1] != k]
    assert runs == sorted(set(keys)) and len(names) == 3 * 5


def test_failure_leaves_no_partial_shard(tmp_path):
    with pytest.raises(RuntimeError):
        with ShardWriter(tmp_path) as writer:
            writer.write(samples(1)[0])
            raise RuntimeError("worker died")
    assert list(tmp_path.iterdir()) == []


def test_stale_temporaries_are_removed(tmp_path):
    (tmp_path / "shard-000000.tar.tmp").write_bytes(b"half a shard")
    with ShardWriter(tmp_path) as writer:
        writer.write(samples(1)[0])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["shard-000000.parquet", "shard-000000.tar"]
