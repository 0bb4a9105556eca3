"""``aa2 preprocess`` arguments -> the job's config (the subcommand as tools.cli registers it)."""

from __future__ import annotations

import argparse

import pytest

from tools.preprocess import build_config, register


def parse(argv):
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command"))
    return parser.parse_args(argv)


def test_flags_and_overrides_reach_the_config(tmp_path):
    yaml_file = tmp_path / "job.yaml"
    yaml_file.write_text("clips:\n  clip_frames: 32\nwrite:\n  max_shard_bytes: 1000\n")
    args = parse(["preprocess", "in/", "out/", "--config", str(yaml_file), "--backend", "lite", "--pose", "oracle",
                  "--set", "clips.target_fps=10", "--address", "auto"])
    config = build_config(args)
    assert (config.clips.clip_frames, config.clips.target_fps, config.write.max_shard_bytes) == (32, 10, 1000)
    assert config.annotate.roles() == {"localise": "lite", "segment": "lite", "pose": "oracle", "depth": "lite"}
    assert config.ray.address == "auto" and args.func.__name__ == "run"


def test_bad_override_fails_at_start():
    with pytest.raises(ValueError, match="unknown config key"):
        build_config(parse(["preprocess", "in/", "out/", "--set", "clips.nope=1"]))


def test_weights_file_selects_the_production_backends(tmp_path):
    (tmp_path / "w.yaml").write_text(
        "sam2:\n  checkpoint: models/sam2.1_hiera_base_plus.pt\n"
        "sapiens_pose:\n  checkpoint: models/pose.pt2\n  format: coco_17\n"
        "sapiens_depth:\n  checkpoint: models/depth.pt2\n")
    args = parse(["preprocess", "in/", "out/", "--weights", str(tmp_path / "w.yaml"), "--localise", "oracle",
                  "--segment", "sam2", "--pose", "sapiens", "--depth", "sapiens",
                  "--set", "annotate.backend_config.depth.depth_scale=0.25"])
    backend = build_config(args).annotate.backend_config
    assert backend["segment"]["checkpoint"] == str(tmp_path / "models" / "sam2.1_hiera_base_plus.pt")
    assert backend["pose"] == {"checkpoint": str(tmp_path / "models" / "pose.pt2"), "format": "coco_17"}
    assert backend["depth"]["depth_scale"] == 0.25 and backend["depth"]["checkpoint"].endswith("depth.pt2")
    assert "localise" not in backend  # the oracle needs no weights


def test_missing_weights_fail_before_any_video_is_read(tmp_path):
    from preprocess.pipeline import run_preprocess

    (tmp_path / "w.yaml").write_text("sam2:\n  checkpoint: nowhere/sam2.1_hiera_base_plus.pt\n")
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "broken.mp4").write_bytes(b"not read")
    config = build_config(parse(["preprocess", str(tmp_path / "in"), str(tmp_path / "out"), "--backend", "oracle",
                                 "--segment", "sam2", "--weights", str(tmp_path / "w.yaml")]))
    with pytest.raises(FileNotFoundError, match="sam2.1_hiera_base_plus.pt"):
        run_preprocess(str(tmp_path / "in"), tmp_path / "out", config, engine="local")
    assert not (tmp_path / "out" / "inputs.parquet").exists()
