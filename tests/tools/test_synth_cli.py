"""``aa2 synth`` writes a crawl and, with --preview, one contact sheet per video."""

import argparse

import cv2
import pyarrow.parquet as pq

from tools import synth


def _run(argv):
    parser = argparse.ArgumentParser()
    synth.register(parser.add_subparsers())
    args = parser.parse_args(["synth", *argv])
    return args.func(args)


def test_synth_writes_crawl_and_previews(tmp_path, capsys):
    out = tmp_path / "crawl"
    code = _run([str(out), "--num-videos", "2", "--seed", "7", "--height", "61", "--width", "45", "--frames", "3",
                 "--motions", "wave,squat", "--preview"])  # fmt: skip
    assert code == 0
    rows = pq.read_table(out / "manifest.parquet").to_pylist()
    assert [r["motion"] for r in rows] == ["wave", "squat"]
    assert all((r["height"], r["width"], r["num_frames"]) == (61, 45, 3) for r in rows)
    sheets = sorted((out / "previews").glob("*.png"))
    assert [p.stem for p in sheets] == [r["name"] for r in rows]
    assert cv2.imread(str(sheets[0])).shape[1] == 4 * 45 * 4  # 61 px tall tiles are enlarged 4x
    printed = capsys.readouterr().out
    assert "clips/s" in printed and str(out) in printed


def test_synth_rejects_bad_settings(tmp_path, capsys):
    assert _run([str(tmp_path), "--motions", "moonwalk"]) == 2
    assert "moonwalk" in capsys.readouterr().out
    assert not (tmp_path / "manifest.parquet").exists()
