"""Crash and resume: SIGKILL a running job after its first committed shard, rerun, compare keys.

Then add videos to the crawl and rerun: only the new ones are processed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from dataset.shards import iter_raw_samples, list_shards
from preprocess.catalog import canonical_source, video_id_of
from preprocess.ledger import Ledger
from preprocess.pipeline import run_preprocess

from .pipeline_corpus import EXPECTED_STARTS, TEST_OVERRIDES, make_crawl, pipeline_config

pytestmark = pytest.mark.timeout(300)
REPO = Path(__file__).resolve().parents[2]
ONE_VIDEO_PER_SHARD = "write.max_shard_bytes=1"


def expected_keys(crawl: Path) -> list[str]:
    """An uninterrupted run's keys: every video gives clips at EXPECTED_STARTS (the oracle test checks it)."""
    paths = sorted((crawl / "videos").glob("*.mp4"))
    return sorted(f"{video_id_of(canonical_source(str(p)))}_{s:06d}" for p in paths for s in EXPECTED_STARTS)


def shard_keys(out: Path) -> list[str]:
    return [raw["__key__"] for tar in list_shards(out / "shards") for raw in iter_raw_samples(tar)]


# The job under test, with every ledger commit followed by a pause: on a fast machine the whole
# tiny crawl can otherwise be committed between two polls, and the kill would land after the end.
SLOW_COMMITS = """
import sys, time
from preprocess.ledger import Ledger
commit = Ledger.write_part
Ledger.write_part = lambda self, *a, **k: (commit(self, *a, **k), time.sleep(3))[0]
from tools.preprocess import main
sys.exit(main(sys.argv[1:]))
"""


def kill_after_first_commit(manifest: Path, out: Path, address: str) -> None:
    args = [sys.executable, "-c", SLOW_COMMITS, str(manifest), str(out), "--address", address]
    for item in TEST_OVERRIDES + [ONE_VIDEO_PER_SHARD]:
        args += ["--set", item]
    proc = subprocess.Popen(args, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 150
        while not list((out / "ledger").glob("part-*.parquet")):
            assert proc.poll() is None, "the job ended before committing a shard"
            assert time.monotonic() < deadline, "no shard committed in time"
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait(timeout=30)


def test_killed_run_resumes_to_the_same_keys_then_adds_new_videos(ray_cluster, tmp_path):
    crawl, out = tmp_path / "crawl", tmp_path / "out"
    manifest = make_crawl(crawl, num_videos=6)
    kill_after_first_commit(manifest, out, ray_cluster)
    assert not (out / "summary.json").exists(), "the job finished before it was killed"
    finished_before = len(Ledger(out).done_ids())
    assert 1 <= finished_before < 6

    summary = run_preprocess(str(crawl / "videos"), out, pipeline_config(ONE_VIDEO_PER_SHARD))
    keys = shard_keys(out)
    assert sorted(keys) == expected_keys(crawl)
    assert max(Counter(keys).values()) == 1  # no key twice across shards
    assert summary["videos_already_done"] == finished_before
    assert summary["videos_processed"] == 6 - finished_before

    make_crawl(crawl, num_videos=8)  # the same six videos plus two new ones
    summary = run_preprocess(str(crawl / "videos"), out, pipeline_config(ONE_VIDEO_PER_SHARD))
    assert summary["videos_processed"] == 2 and summary["videos_already_done"] == 6
    assert sorted(shard_keys(out)) == expected_keys(crawl)
    assert summary["inputs_by_status"] == {"ok": 8}
