"""The compile cache file: what one process compiled with Inductor, another (with empty local
caches) loads and compiles from, without generating the code again."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.timeout(600)

# Compiles a small training graph (forward and backward) with Inductor on the CPU and prints
# Inductor's FX-graph cache counters; argv: mode (save|load|none), cache file.
SCRIPT = r"""
import json, sys
from pathlib import Path
import torch
from train.compile_cache import load_compile_cache, save_compile_cache

mode, path = sys.argv[1], Path(sys.argv[2])
loaded = load_compile_cache(path) if mode == "load" else 0
torch.manual_seed(0)
net = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.GELU(), torch.nn.Linear(16, 4))
step = torch.compile(net)
loss = step(torch.randn(5, 8)).square().mean()
loss.backward()
written = save_compile_cache(path) if mode == "save" else 0
unwritable = save_compile_cache(path / "under-a-file.bin") if mode == "save" else 0  # warns, goes on
c = torch._dynamo.utils.counters
print(json.dumps({"loaded": loaded, "written": written, "unwritable": unwritable, "hit": c["inductor"]["fxgraph_cache_hit"],
                  "miss": c["inductor"]["fxgraph_cache_miss"], "aot_hit": c["aot_autograd"]["autograd_cache_hit"],
                  "aot_miss": c["aot_autograd"]["autograd_cache_miss"], "loss": loss.item()}))
"""


def run(mode, path, local_cache):
    env = {**os.environ, "TORCHINDUCTOR_CACHE_DIR": str(local_cache), "TRITON_CACHE_DIR": str(local_cache / "triton"),
           "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-c", SCRIPT, mode, str(path)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=500)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_a_saved_compile_cache_spares_another_process_the_code_generation(tmp_path):
    blob = tmp_path / "run" / "compile_cache.bin"
    first = run("save", blob, tmp_path / "local-a")
    assert first["miss"] >= 2 and first["hit"] == 0  # forward and backward generated
    assert blob.is_file() and blob.stat().st_size == first["written"] > 0
    assert not blob.with_name(blob.name + ".tmp").exists()
    assert first["unwritable"] == 0  # a cache that cannot be written is skipped, not fatal

    cold = run("none", blob, tmp_path / "local-b")  # empty local caches, file not read
    assert cold["miss"] >= 2 and cold["hit"] == 0

    warm = run("load", blob, tmp_path / "local-c")  # empty local caches, file read first
    assert warm["loaded"] > 0
    assert warm["miss"] == 0 and warm["hit"] == first["miss"]
    assert first["aot_miss"] >= 1 and warm["aot_miss"] == 0 and warm["aot_hit"] == first["aot_miss"]  # traced once
    assert warm["loss"] == first["loss"]


def test_a_missing_or_unreadable_cache_file_means_compiling_from_scratch(tmp_path):
    from train.compile_cache import load_compile_cache

    assert load_compile_cache(tmp_path / "absent.bin") == 0
    bad = tmp_path / "bad.bin"
    bad.write_bytes(b"not a cache")
    assert load_compile_cache(bad) == 0


def test_the_cache_file_is_named_after_the_kind_of_card_and_other_placeholders_fail_at_start():
    import torch

    from train.compile_cache import cache_file
    from train.config import ModelConfig

    assert cache_file("compile_cache-{device}.bin", torch.device("cpu")) == "compile_cache-cpu.bin"
    assert cache_file("/shared/cc.bin", torch.device("cpu")) == "/shared/cc.bin"
    with pytest.raises(ValueError, match=r"model.compile_cache=.*\{run\}.*only placeholder is \{device\}"):
        ModelConfig(compile_cache="cc-{run}.bin")
    with pytest.raises(ValueError, match="model.compile_cache=.*expected '}'"):
        ModelConfig(compile_cache="cc-{device.bin")


def train(out, local_cache, *overrides):
    """``python -m train`` on the tiny recipe with the model compiled by Inductor, two steps."""
    shards = out.parent / "shards"
    if not shards.exists():
        from tests.dataset.conftest import write_shard_folder

        write_shard_folder(shards, 2, clips_per_shard=2, num_frames=8, hw=(64, 80))
    env = {**os.environ, "TORCHINDUCTOR_CACHE_DIR": str(local_cache), "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "2"}
    args = [sys.executable, "-m", "train", "--recipe", "tiny", f"data.train_shards={shards}", f"output_dir={out}",
            "data.num_workers=0", "data.batch_size=2", "log.tracker=none", "log.every_steps=1", "max_steps=2",
            "optim.warmup_steps=0", "ema.enabled=false", "checkpoint.every_steps=100", "model.compile=true", *overrides]
    proc = subprocess.run(args, cwd=REPO, env=env, capture_output=True, text=True, timeout=550)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stderr + proc.stdout


@pytest.mark.slow
def test_a_restarted_run_compiles_the_model_from_the_file_its_first_run_wrote(tmp_path):
    first = train(tmp_path / "first", tmp_path / "local-a")
    blob = tmp_path / "first" / "compile_cache-cpu.bin"  # named after the kind of device
    assert blob.is_file()
    assert "compile cache: " in first and "0 from the cache" in first
    # another machine: empty local caches; the run reads the first run's file
    second = train(tmp_path / "second", tmp_path / "local-b", f"model.compile_cache={blob}")
    assert "artifacts loaded from" in second
    assert ", 0 generated;" in second  # every Inductor graph came from the file
    losses = [[line.split("loss=")[1].split()[0] for line in log.splitlines() if "step 2:" in line]
              for log in (first, second)]
    assert losses[0] and losses[0] == losses[1]
