"""Two processes on the CPU (torchrun, gloo): per-rank data state in checkpoints, and a run
stopped and resumed on two ranks ends with the same weights as an uninterrupted one."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from safetensors.torch import load_file

from tests.dataset.conftest import write_shard_folder

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.timeout(600)


def torchrun(shards, out, *overrides, env=None):
    args = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
            "-m", "train", "--recipe", "tiny", f"data.train_shards={shards}", f"output_dir={out}",
            "optim.warmup_steps=0", "data.num_workers=0", "data.batch_size=2", "log.tracker=none",
            "log.every_steps=1", *overrides]
    proc = subprocess.run(args, cwd=REPO, capture_output=True, text=True, timeout=300,
                          env=None if env is None else {**os.environ, **env})
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stderr + proc.stdout


def test_two_ranks_resume_exactly(tmp_path):
    shards = tmp_path / "shards"
    write_shard_folder(shards, 6, clips_per_shard=2, num_frames=8, hw=(64, 80))
    torchrun(shards, tmp_path / "straight", "max_steps=4", "checkpoint.every_steps=100")
    torchrun(shards, tmp_path / "resumed", "max_steps=2", "checkpoint.every_steps=2")
    step2 = tmp_path / "resumed" / "checkpoints" / "step-00000002"
    assert {p.name for p in step2.glob("data_state_rank*.json")} == {"data_state_rank0.json", "data_state_rank1.json"}
    states = [json.loads((step2 / f"data_state_rank{r}.json").read_text()) for r in (0, 1)]
    assert [(s["rank"], s["world_size"]) for s in states] == [(0, 2), (1, 2)]
    log = torchrun(shards, tmp_path / "resumed", "max_steps=4", "checkpoint.every_steps=100")
    assert "at step 2" in log  # it continued from the checkpoint rather than starting over
    a = load_file(tmp_path / "straight" / "export" / "diffusion_pytorch_model.safetensors")
    b = load_file(tmp_path / "resumed" / "export" / "diffusion_pytorch_model.safetensors")
    assert a.keys() == b.keys()
    assert all((a[k] - b[k]).abs().max() <= 1e-5 for k in a)


def ddp_buckets(log: str) -> list[int]:
    """Buckets Dynamo's DDPOptimizer split each compiled graph into (its INFO log line)."""
    return [int(n) for n in re.findall(r"DDPOptimizer used bucket cap \d+ and created (\d+) buckets", log)]


def test_two_ranks_compiled_train_like_two_ranks_eager(tmp_path):
    """``torch.compile`` around the DDP-wrapped model, which Dynamo splits at DDP's gradient buckets
    (1 MB here, ``ddp_bucket_mb``), keeps the gradients averaged across ranks: the compiled run
    ends where the eager one does."""
    shards = tmp_path / "shards"
    write_shard_folder(shards, 6, clips_per_shard=2, num_frames=8, hw=(64, 80))
    common = ("max_steps=3", "checkpoint.every_steps=100", "ema.enabled=false")
    torchrun(shards, tmp_path / "eager", *common)
    log = torchrun(shards, tmp_path / "compiled", *common, "model.compile=true", "model.compile_backend=aot_eager",
                   "ddp_bucket_mb=1", env={"TORCH_LOGS": "dynamo"})  # Dynamo's INFO lines, DDPOptimizer's among them
    assert '"compiled_graphs"' in log
    buckets = ddp_buckets(log)
    assert len(buckets) == 2 and min(buckets) > 1  # each rank's graph split at the small buckets
    a = load_file(tmp_path / "eager" / "export" / "diffusion_pytorch_model.safetensors")
    b = load_file(tmp_path / "compiled" / "export" / "diffusion_pytorch_model.safetensors")
    assert a.keys() == b.keys()
    assert all((a[k] - b[k]).abs().max() <= 1e-4 for k in a), max((a[k] - b[k]).abs().max() for k in a)
