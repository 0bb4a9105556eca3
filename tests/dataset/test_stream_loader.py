"""The shard stream: exact single pass, equal epochs per rank, corrupt samples, save/restore."""

import hashlib

import pytest
import webdataset as wds

from dataset.dist_env import resolve_rank
from dataset.sample_config import SampleConfig
from dataset.schema import encode_sample
from dataset.shards import ShardWriter, read_manifests
from dataset.stream import ShardStream, StreamConfig
from dataset.stream_loader import StreamLoader
from tests.dataset.conftest import make_clip

SAMPLE = SampleConfig(height=32, width=32, num_frames=2, stride=2)


def _run(loader):
    return [(tuple(b.keys), hashlib.md5(b.frames.numpy().tobytes() + b.mask.numpy().tobytes()).hexdigest())
            for b in loader]


def test_exact_mode_two_ranks_two_workers_read_each_sample_once(synth_shards):
    seen = []
    for rank in range(2):  # 5 shards: 3 for rank 0, 2 for rank 1, then split by worker
        stream = ShardStream(StreamConfig(str(synth_shards), batch_size=2, resampled=False), SAMPLE, rank, 2)
        seen += [k for b in StreamLoader(stream, num_workers=2) for k in b.keys]
    assert len(seen) == 9 and sorted(seen) == sorted(read_manifests(synth_shards).column("key").to_pylist())


@pytest.mark.parametrize("workers", [0, 2])
def test_every_rank_gets_the_same_number_of_batches(synth_shards, workers):
    folder = synth_shards  # 5 shards: the ranks hold different amounts of data
    counts = []
    for rank in range(2):
        cfg = StreamConfig(str(folder), batch_size=2, batches_per_epoch=5, shuffle_buffer=4, shuffle_initial=2)
        loader = StreamLoader(ShardStream(cfg, SAMPLE, rank, 2), num_workers=workers)
        counts.append(sum(1 for _ in loader))
        assert len(loader) == 5 and loader.epoch == 1
    assert counts == [5, 5]


def _corrupt_shard(folder):
    with wds.TarWriter(str(folder / "shard-000099.tar")) as tar:
        for i in range(3):
            encoded = encode_sample(make_clip(f"bad{i:04d}_000000", num_frames=8, hw=(48, 64), seed=i))
            if i == 1:
                encoded["mask.npz"] = b"PK\x03\x04 not a zip archive"
            tar.write(encoded)


@pytest.mark.parametrize("workers", [0, 2])
def test_a_corrupt_sample_is_skipped_and_counted(tmp_path, workers):
    with ShardWriter(tmp_path, max_count=2) as writer:
        writer.write(make_clip("good0000_000000", num_frames=8, hw=(48, 64)))
    _corrupt_shard(tmp_path)
    loader = StreamLoader(ShardStream(StreamConfig(str(tmp_path), resampled=False), SAMPLE, 0, 1), num_workers=workers)
    keys = [k for b in loader for k in b.keys]
    assert "bad0001_000000" not in keys and len(keys) == 3
    assert loader.error_counts() == {"decode_mask_npz": 1}
    assert loader.state_dict()["errors"] == {"decode_mask_npz": 1}


def _train_loader(folder, seed=0, workers=2):
    cfg = StreamConfig(str(folder), batch_size=1, batches_per_epoch=5, shuffle_buffer=4, shuffle_initial=2, seed=seed)
    return StreamLoader(ShardStream(cfg, SAMPLE, 0, 1), num_workers=workers)


@pytest.mark.parametrize("stop_after", [1, 2, 3])
def test_restore_continues_the_stream_exactly(synth_shards, stop_after):
    folder = synth_shards
    reference = _train_loader(folder)
    expected = _run(reference) + _run(reference)  # two epochs
    interrupted = _train_loader(folder)
    got, it = [], iter(interrupted)
    for _ in range(stop_after):
        got += _run([next(it)])
    state = interrupted.state_dict()
    it.close()
    restored = _train_loader(folder)
    restored.load_state_dict(state)
    got += _run(restored) + _run(restored)
    assert got == expected


def test_a_new_loop_after_a_break_continues_the_epoch(synth_shards):
    folder = synth_shards
    expected = _run(_train_loader(folder))
    loader = _train_loader(folder)
    first = []
    for batch in loader:
        first += _run([batch])
        if len(first) == 2:
            break
    assert first + _run(loader) == expected


def test_seed_determines_the_stream(synth_shards):
    folder = synth_shards
    assert _run(_train_loader(folder, seed=1)) == _run(_train_loader(folder, seed=1))
    assert _run(_train_loader(folder, seed=1)) != _run(_train_loader(folder, seed=2))


def test_changed_layout_starts_the_next_epoch(synth_shards):
    folder = synth_shards
    loader = _train_loader(folder, workers=2)
    next(iter(loader))
    other = _train_loader(folder, workers=1)
    other.load_state_dict(loader.state_dict())
    assert other.epoch == 1 and len(_run(other)) == 5


def test_rank_resolution(monkeypatch):
    assert resolve_rank(1, 4) == (1, 4)
    monkeypatch.setenv("RANK", "3")
    monkeypatch.setenv("WORLD_SIZE", "8")
    assert resolve_rank() == (3, 8)
    with pytest.raises(ValueError):
        resolve_rank(2, None)
    with pytest.raises(ValueError):
        resolve_rank(4, 4)


def test_config_validation():
    with pytest.raises(ValueError, match="batches_per_epoch"):
        StreamConfig("x", resampled=True)
    with pytest.raises(ValueError):
        StreamConfig("x", resampled=False, shuffle_buffer=4, shuffle_initial=8)


def test_a_truncated_shard_costs_its_tail_and_is_counted(tmp_path):
    with ShardWriter(tmp_path, max_count=3) as writer:
        for i in range(6):
            writer.write(make_clip(f"clip{i:04d}_000000", num_frames=8, hw=(48, 64), seed=i))
    first = sorted(tmp_path.glob("*.tar"))[0]
    data = first.read_bytes()
    first.write_bytes(data[: int(len(data) * 0.6)])
    loader = StreamLoader(ShardStream(StreamConfig(str(tmp_path), resampled=False), SAMPLE, 0, 1), num_workers=0)
    keys = [k for b in loader for k in b.keys]
    assert {"clip0003_000000", "clip0004_000000", "clip0005_000000"} <= set(keys) and len(keys) < 6
    assert loader.error_counts().get("tar_read", 0) >= 1


def test_ranks_draw_different_streams(synth_shards):
    def keys(rank):
        cfg = StreamConfig(str(synth_shards), batch_size=1, batches_per_epoch=6, shuffle_buffer=4, shuffle_initial=2)
        return [k for b in StreamLoader(ShardStream(cfg, SAMPLE, rank, 2), num_workers=0) for k in b.keys]

    assert keys(0) != keys(1) and keys(0) == keys(0)
