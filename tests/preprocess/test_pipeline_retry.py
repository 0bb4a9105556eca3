"""Reruns: a failed input stays done unless asked to retry; a retried one keeps one row, its latest."""

from __future__ import annotations

import json
import shutil

import pyarrow.parquet as pq
import pytest

from preprocess.pipeline import run_preprocess

from .pipeline_corpus import make_crawl, pipeline_config

pytestmark = pytest.mark.timeout(120)


def test_missing_file_retried_once_it_appears(tmp_path):
    crawl = tmp_path / "crawl"
    make_crawl(crawl, num_videos=1)
    first = next((crawl / "videos").glob("*.mp4"))
    manifest = tmp_path / "m.jsonl"
    manifest.write_text("".join(json.dumps({"path": str(p)}) + "\n" for p in (first, crawl / "videos" / "late.mp4")))
    out = tmp_path / "out"
    assert run_preprocess(str(manifest), out, pipeline_config(), engine="local")["inputs_by_status"] == {
        "failed": 1, "ok": 1}
    shutil.copy(first, crawl / "videos" / "late.mp4")
    shutil.copy(crawl / "sidecars" / f"{first.stem}.npz", crawl / "sidecars" / "late.npz")
    again = run_preprocess(str(manifest), out, pipeline_config(), engine="local")
    assert again["videos_processed"] == 0  # failed inputs count as done by default
    retried = run_preprocess(str(manifest), out, pipeline_config("retry_failed=true"), engine="local")
    assert retried["videos_processed"] == 1 and retried["clips"] == 2
    rows = pq.read_table(out / "inputs.parquet").to_pylist()
    assert sorted((r["source"].rsplit("/", 1)[-1], r["status"]) for r in rows) == [
        ("late.mp4", "ok"), (first.name, "ok")]
