"""Fixtures of the preprocessing tests: one small local Ray cluster for the whole session."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def ray_cluster():
    """A local Ray cluster (2 CPUs, no GPU); yields its address so subprocess drivers can join it."""
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, num_gpus=0, include_dashboard=False)
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()
