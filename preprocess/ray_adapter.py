"""The thin layer between stages and Ray Data: each stage becomes one ``map_batches`` operator.

Stages that hold state (a sandbox child, model weights) run in actor pools
(``ActorPoolStrategy``; ``setup()`` runs once per actor). Qualify holds nothing but runs in a
one-actor pool too: a long-lived actor costs one worker start, tasks may start many. Batches cross as numpy column dicts built by :mod:`preprocess.rows`, so every block has
the same schema.
"""

from __future__ import annotations

import copy
import logging
import os

import ray
import ray.data

from .config import PreprocessConfig
from .rows import batch_from_rows, new_row, normalise, rows_from_batch
from .stages import AnnotateStage, ClipStage, LocaliseStage, ProbeStage, QualifyStage

MAX_INPUT_BLOCKS = 1024
log = logging.getLogger(__name__)


class RayStage:
    """Callable class for ``map_batches``: builds the stage and runs ``setup()`` in the actor."""

    def __init__(self, stage_cls, *args):
        self.stage = stage_cls(*args)
        self.stage.setup()

    def __call__(self, batch: dict) -> dict:
        return batch_from_rows(self.stage(rows_from_batch(batch)))


def _actor_stage(ds: ray.data.Dataset, stage_cls, args: tuple, *, batch_size: int, size: int, num_cpus: float,
                 num_gpus: float = 0.0) -> ray.data.Dataset:
    return ds.map_batches(
        RayStage, fn_constructor_args=(stage_cls, *args), batch_size=batch_size, batch_format="numpy",
        compute=ray.data.ActorPoolStrategy(size=size), num_cpus=num_cpus, num_gpus=num_gpus or None,
    )


def fit_to_cluster(config: PreprocessConfig, resources: dict[str, float]) -> PreprocessConfig:
    """Shrink the stages' CPU reservations to fit a small cluster; refuse GPUs it does not have.

    Every actor pool needs its actors placed before rows flow, so reservations that add up to more
    CPUs than the cluster has would wait forever. CPU reservations are scheduling hints (decoders
    use threads anyway): scaling them down is safe. A GPU request on a cluster without GPUs is a
    configuration error.
    """
    c = copy.deepcopy(config)
    a = c.annotate
    stages = [(c.probe, "num_cpus", c.probe.concurrency), (c.clips, "num_cpus", c.clips.concurrency),
              (a, "num_cpus", a.concurrency), (c.qualify, "num_cpus", 1), (a, "localise_num_cpus", a.localise_concurrency)]
    wanted = sum(getattr(stage, key) * n for stage, key, n in stages)
    cpus = float(resources.get("CPU", 0.0))
    if 0 < cpus < wanted:
        log.warning("stages reserve %.2f CPUs, the cluster has %.0f: scaling reservations by %.2f", wanted, cpus,
                    cpus / wanted)
        for stage, key, _ in stages:
            setattr(stage, key, getattr(stage, key) * cpus / wanted * 0.999)
    has_gpus = float(resources.get("GPU", 0.0)) > 0.0
    for what, gpus, setting in (("annotate", a.num_gpus * a.concurrency, "annotate.num_gpus"),
                                ("localise", a.localise_num_gpus * a.localise_concurrency, "annotate.localise_num_gpus")):
        if gpus > 0 and not has_gpus:
            raise ValueError(f"{what} asks for {gpus} GPUs but the Ray cluster has none; set {setting}=0")
    return c


def build_dataset(rows: list[dict], config: PreprocessConfig) -> ray.data.Dataset:
    """catalog rows -> probe -> clips -> [localise] -> annotate -> qualify, as a lazy Ray Dataset."""
    c = fit_to_cluster(config, ray.cluster_resources())
    blocks = max(1, min(len(rows), MAX_INPUT_BLOCKS))
    ds = ray.data.from_items([normalise(r) for r in rows] or [new_row()], override_num_blocks=blocks)
    if not rows:
        ds = ds.limit(0)
    ds = _actor_stage(ds, ProbeStage, (c.probe, c.clips.min_frames), batch_size=1, size=c.probe.concurrency,
                      num_cpus=c.probe.num_cpus)
    ds = _actor_stage(ds, ClipStage, (c.clips,), batch_size=1, size=c.clips.concurrency, num_cpus=c.clips.num_cpus)
    if c.annotate.separate_localise:
        ds = _actor_stage(ds, LocaliseStage, (c.annotate,), batch_size=c.annotate.localise_batch_size,
                          size=c.annotate.localise_concurrency, num_cpus=c.annotate.localise_num_cpus,
                          num_gpus=c.annotate.localise_num_gpus)
    ds = _actor_stage(ds, AnnotateStage, (c.annotate,), batch_size=c.annotate.batch_size,
                      size=c.annotate.concurrency, num_cpus=c.annotate.num_cpus, num_gpus=c.annotate.num_gpus)
    return _actor_stage(ds, QualifyStage, (c.qualify,), batch_size=c.annotate.batch_size, size=1,
                        num_cpus=c.qualify.num_cpus)


def iter_ray(rows: list[dict], config: PreprocessConfig, holder: dict | None = None):
    """Rows out of the Ray pipeline as they complete (any order); ``holder['stats']`` gets Ray's stats."""
    ds = build_dataset(rows, config)
    # batch_size=None: each block as it completes (a fixed batch size would hold finished rows back
    # until that many had arrived, delaying the ledger and the shards of a long job)
    for batch in ds.iter_batches(batch_size=None, batch_format="numpy"):
        yield from rows_from_batch(batch)
    if holder is not None:
        holder["stats"] = ds.stats()


def init_ray(config: PreprocessConfig) -> bool:
    """Join ``config.ray.address`` or start a local cluster; True when this call started Ray."""
    if ray.is_initialized():
        return False
    r = config.ray
    address = r.address or os.environ.get("RAY_ADDRESS")  # set for drivers started by `ray job submit`
    if address:
        ray.init(address=address)
    else:
        ray.init(num_cpus=r.num_cpus, num_gpus=r.num_gpus, include_dashboard=False)
    return True
