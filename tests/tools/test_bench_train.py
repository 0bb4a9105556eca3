"""Argument checks of the training benchmark and its VAE timing on a toy VAE."""

import argparse

import pytest

from tools.bench_train import parse_case
from tools.bench_vae import bench_vae


def test_cases_parse_and_bad_ones_say_what_is_expected():
    assert parse_case("2:1") == (2, 1, False)
    assert parse_case("1:8:compile") == (1, 8, True)
    for bad in ("3:1", "2", "2:1:fast"):
        with pytest.raises(argparse.ArgumentTypeError, match="STAGE:BATCH"):
            parse_case(bad)


def test_vae_timing_reports_each_way_with_counted_flops():
    row = bench_vae(images=3, size=32, repeat=1, tiny=True, ways=("eager", "eager_benchmark"))
    assert row["tflop_per_image"] >= 0 and row["images"] == 3
    for way in ("eager", "eager_benchmark"):
        assert row[f"{way}_s"] > 0
