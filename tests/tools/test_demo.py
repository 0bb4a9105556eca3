"""The README's main job, end to end through the real CLI: crawl -> Ray -> shards -> training -> preview."""

import json
import subprocess
import sys

import pytest

from dataset.shards import list_shards, read_manifests
from model import AA2Model


@pytest.mark.timeout(660)
def test_demo_runs_the_whole_path(tmp_path):
    out = tmp_path / "demo"
    proc = subprocess.run(
        [sys.executable, "-m", "tools.cli", "demo", "--out", str(out), "--videos", "3", "--steps", "4",
         "--num-cpus", "2"],
        capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    report = json.loads(proc.stdout[proc.stdout.index("{"): proc.stdout.rindex("}") + 1])
    manifest = read_manifests(report["shards"])
    assert report["preprocess"]["clips"] == manifest.num_rows > 0
    assert list_shards(report["shards"])
    assert report["trained_steps"] == 4
    for key in ("preview_png", "preview_mp4"):
        assert (tmp_path / report[key]).stat().st_size > 1000
    assert AA2Model.from_pretrained(report["exported_model"]).config["motion"] is None  # stage 1: image mode
