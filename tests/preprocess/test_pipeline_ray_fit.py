"""Stage reservations fitted to the cluster: a 1-CPU laptop runs, a GPU request without GPUs fails early."""

from __future__ import annotations

import pytest

from preprocess.config import PreprocessConfig, apply_overrides
from preprocess.ray_adapter import fit_to_cluster


def reserved(c):
    return c.probe.num_cpus * c.probe.concurrency + c.clips.num_cpus * c.clips.concurrency + \
        c.annotate.num_cpus * c.annotate.concurrency + c.qualify.num_cpus


def test_cpu_reservations_shrink_to_fit_and_keep_proportions():
    config = apply_overrides(PreprocessConfig(), ["clips.concurrency=3"])
    fitted = fit_to_cluster(config, {"CPU": 1.0})
    assert reserved(fitted) <= 1.0 < reserved(config)
    assert fitted.clips.num_cpus / fitted.probe.num_cpus == pytest.approx(config.clips.num_cpus / config.probe.num_cpus)
    assert fit_to_cluster(config, {"CPU": 64.0}).clips.num_cpus == config.clips.num_cpus
    assert config.clips.num_cpus == 1.0  # the caller's config is not touched


def test_gpu_request_on_a_cluster_without_gpus_fails_at_start():
    config = apply_overrides(PreprocessConfig(), ["annotate.num_gpus=0.5"])
    with pytest.raises(ValueError, match="GPUs"):
        fit_to_cluster(config, {"CPU": 8.0})
    assert fit_to_cluster(config, {"CPU": 8.0, "GPU": 1.0}).annotate.num_gpus == 0.5
