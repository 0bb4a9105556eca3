"""Catalog inputs (folder, glob, manifests), stable ids, ledger reconciliation, config overrides."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from preprocess.catalog import Catalog, canonical_source, video_id_of
from preprocess.config import PreprocessConfig, apply_overrides
from preprocess.ledger import Ledger


@pytest.fixture
def tree(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    for name in ("a/x.mp4", "a/b/y.MOV", "a/b/notes.txt", "z é.mkv"):
        (tmp_path / name).write_bytes(b"0")
    return tmp_path


def names(rows):
    return sorted(r["source"].rsplit("/", 1)[-1] for r in rows)


def test_folder_glob_and_manifests(tree):
    assert names(Catalog()(str(tree))) == ["x.mp4", "y.MOV", "z é.mkv"]
    assert names(Catalog()(str(tree / "a" / "*.mp4"))) == ["x.mp4"]
    (tree / "m.csv").write_text("path\na/x.mp4\nmissing.mp4\n")
    (tree / "m.jsonl").write_text(json.dumps({"url": str(tree / "z é.mkv")}) + "\n")
    pq.write_table(pa.table({"video": ["a/b/y.MOV", "a/b/y.MOV"]}), tree / "m.parquet")
    assert names(Catalog()(str(tree / "m.csv"))) == ["missing.mp4", "x.mp4"]
    assert names(Catalog()(str(tree / "m.jsonl"))) == ["z é.mkv"]
    assert names(Catalog()(str(tree / "m.parquet"))) == ["y.MOV"]  # listed twice, one row


def test_video_id_is_stable_over_spellings(tree):
    a = video_id_of(canonical_source(str(tree / "a" / "x.mp4")))
    b = video_id_of(canonical_source(f"file://{tree}/a/../a/x.mp4"))
    assert a == b and len(a) == 16
    assert video_id_of(canonical_source("s3://bucket/v.mp4/")) == video_id_of("s3://bucket/v.mp4")


def test_reconcile_drops_shards_no_ledger_part_names(tmp_path):
    ledger = Ledger(tmp_path)
    for stem in ("shard-000000", "shard-000001"):
        (ledger.shard_dir / f"{stem}.tar").write_bytes(b"t")
        (ledger.shard_dir / f"{stem}.parquet").write_bytes(b"p")
    (ledger.shard_dir / "shard-000002.tar.tmp").write_bytes(b"t")
    row = {"source": "/v.mp4", "video_id": "v", "status": "ok", "reason": "", "detail": "", "clips_ok": 1,
           "clips_rejected": 0, "clip_reasons": "{}", "frames": 6, "shard": "shard-000000"}
    ledger.write_part([row], 0)
    removed = sorted(p.name for p in ledger.reconcile())
    assert removed == ["shard-000001.parquet", "shard-000001.tar", "shard-000002.tar.tmp"]
    assert ledger.done_ids() == {"v"} and ledger.next_shard() == 1 and ledger.next_part() == 1


def test_overrides_validate_and_reach_nested_fields():
    config = apply_overrides(PreprocessConfig(), ["clips.target_fps=12", "annotate.backend_config.segment.boxes_file=b.json"])
    assert config.clips.target_fps == 12 and config.annotate.backend_config == {"segment": {"boxes_file": "b.json"}}
    with pytest.raises(ValueError, match="min_frames"):
        apply_overrides(PreprocessConfig(), ["clips.min_frames=100"])
    with pytest.raises(ValueError, match="unknown config key"):
        apply_overrides(PreprocessConfig(), ["clips.fps=3"])
