"""``aa2 inspect``: the summary reads the manifests; --render writes a grid PNG and an mp4."""

import argparse

import cv2
import pyarrow as pa
import pyarrow.parquet as pq

from dataset.video import decode_mp4
from tests.dataset.conftest import write_shard_folder
from tools import inspect_shards
from tools.sample_sheet import COLUMNS


def _run(argv):
    parser = argparse.ArgumentParser()
    inspect_shards.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["inspect", *argv])
    return args.func(args)


def test_summary_and_render(tmp_path, capsys):
    folder = tmp_path / "shards"
    write_shard_folder(folder, 3, clips_per_shard=2, num_frames=8, hw=(48, 64))
    # A manifest row for a rejected clip, as preprocessing records them.
    first = sorted(folder.glob("*.parquet"))[0]
    table = pq.read_table(first).to_pylist()
    table[0] = {**table[0], "status": "rejected"}
    pq.write_table(pa.Table.from_pylist(table), first)
    out = tmp_path / "render" / "s.png"
    assert _run([str(folder), "--render", str(out), "--size", "64", "--frames", "4", "--stride", "2"]) == 0
    text = capsys.readouterr().out
    assert "2 shards" in text and "3 manifest rows" in text
    assert "openpose_18 x3" in text and "pose=oracle@1 x3" in text and "schema versions: 1 x3" in text
    assert "ok " in text and "rejected" in text
    grid = cv2.imread(str(out))
    assert grid.shape[1] == len(COLUMNS) * 64 + (len(COLUMNS) - 1) * 4
    assert grid.shape[0] > 4 * 64
    video = decode_mp4(out.with_suffix(".mp4").read_bytes())
    assert len(video) == 4


def test_empty_folder_fails(tmp_path):
    assert _run([str(tmp_path)]) == 1
