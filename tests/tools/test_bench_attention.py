"""The attention benchmark times SDPA per head size and backend, and reports what a backend can't run."""

from __future__ import annotations

import argparse
import json

import torch

from tools.bench_attention import add_arguments, bench_case, run


def test_counted_flops_follow_the_shape_and_times_are_measured():
    small = bench_case(2, 2, 16, 16, 8, "math", torch.device("cpu"), torch.float32, warmup=0, repeat=2)
    large = bench_case(2, 2, 16, 32, 16, "math", torch.device("cpu"), torch.float32, warmup=0, repeat=2)
    assert "error" not in small and "error" not in large
    # two products of queries x keys x head size: 4 * sequences * heads * queries * keys * head size
    assert small["forward_flop"] == 4 * 2 * 2 * 16 * 16 * 8
    assert large["forward_flop"] == 4 * small["forward_flop"]
    assert large["backward_flop"] > large["forward_flop"]
    assert small["forward_ms"] > 0 and small["forward_backward_ms"] > 0 and small["forward_tflops"] > 0


def test_a_backend_that_cannot_run_gives_its_reason_and_the_run_goes_on(tmp_path, capsys):
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    out = tmp_path / "attention.json"
    args = parser.parse_args(["--device", "cpu", "--sequences", "1", "--heads", "2", "--queries", "8", "--keys", "8", "16",
                              "--head-sizes", "8", "--backends", "cudnn", "math", "--warmup", "0", "--repeat", "1",
                              "--out", str(out)])
    assert run(args) == 0
    rows = json.loads(out.read_text())["rows"]
    assert [(r["keys"], r["backend"]) for r in rows] == [(8, "cudnn"), (8, "math"), (16, "cudnn"), (16, "math")]
    assert all("error" in r and "forward_ms" not in r for r in rows if r["backend"] == "cudnn")
    assert all("error" not in r and r["forward_backward_ms"] > 0 for r in rows if r["backend"] == "math")
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["rows"] == rows


def test_packed_rows_count_the_whole_row_and_reject_shapes_they_cannot_pack():
    cpu = torch.device("cpu")
    packed = bench_case(4, 2, 8, 8, 8, "math", cpu, torch.float32, warmup=0, repeat=1, pack=2)
    plain = bench_case(4, 2, 8, 8, 8, "math", cpu, torch.float32, warmup=0, repeat=1)
    assert packed["pack"] == 2 and "error" not in packed
    # 2 rows of 16 tokens against 4 sequences of 8: twice the products, half of them masked
    assert packed["forward_flop"] == 2 * plain["forward_flop"]
    for sequences, keys in ((4, 16), (3, 8)):
        try:
            bench_case(sequences, 2, 8, keys, 8, "math", cpu, torch.float32, pack=2)
        except ValueError as error:
            assert "packing 2 sequences" in str(error)
        else:
            raise AssertionError(f"{sequences} sequences with {keys} keys packed without complaint")


def test_rows_are_written_as_they_come(tmp_path, monkeypatch):
    import tools.bench_attention as bench

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    out = tmp_path / "attention.json"
    args = parser.parse_args(["--device", "cpu", "--sequences", "1", "--heads", "1", "--queries", "8", "--keys", "8",
                              "--head-sizes", "8", "16", "--backends", "math", "--warmup", "0", "--repeat", "1",
                              "--out", str(out)])
    real = bench.bench_case

    def fault_at_16(*a, **k):
        if a[4] == 16:
            raise SystemError("the process ends here")
        return real(*a, **k)

    monkeypatch.setattr(bench, "bench_case", fault_at_16)
    try:
        run(args)
    except SystemError:
        pass
    assert [r["head_size"] for r in json.loads(out.read_text())["rows"]] == [8]
