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
