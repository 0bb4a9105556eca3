"""``run_preprocess``: the whole job, INPUT -> shards + ledger + run table + summary, on Ray or without it.

Output layout::

    OUTPUT/shards/shard-000000.tar      WebDataset tar, schema v1, keys sorted and contiguous
    OUTPUT/shards/shard-000000.parquet  one row per clip in that tar
    OUTPUT/ledger/part-000000.parquet   finished videos (the resume record)
    OUTPUT/inputs.parquet               every input of this INPUT with status, reason, clip counts
    OUTPUT/summary.json                 counts, clips, frames, per-stage time, wall time
    OUTPUT/config.json                  the configuration of the last run

Rerunning the same command resumes: finished videos (in the ledger) are not decoded again.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import ray

from .annotators import build_annotator
from .catalog import Catalog
from .config import PreprocessConfig
from .ledger import Ledger
from .rows import STAGE_TIMES
from .sink import ShardSink
from .stages import AnnotateStage, ClipStage, LocaliseStage, ProbeStage, QualifyStage
from .stats import RunStats

log = logging.getLogger(__name__)
ENGINES = ("ray", "local")


def iter_local(rows: list[dict], config: PreprocessConfig):
    """The same stages called directly, one after another, in this process (no Ray)."""
    probe, clip = ProbeStage(config.probe, config.clips.min_frames), ClipStage(config.clips)
    localise = LocaliseStage(config.annotate) if config.annotate.separate_localise else None
    annotate, qualify = AnnotateStage(config.annotate), QualifyStage(config.qualify)
    for stage in (probe, clip, localise, annotate, qualify):
        if stage is not None:
            stage.setup()
    size = config.annotate.batch_size
    for row in rows:
        clips = clip(probe([row]))
        if localise is not None:
            clips = localise(clips)
        for i in range(0, len(clips), size):
            yield from qualify(annotate(clips[i: i + size]))


def _write_json(path: Path, data: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True, default=str))
    os.replace(tmp, path)


def _inputs_table(ledger: Ledger, catalog_rows: list[dict]) -> pa.Table:
    ids = pa.array([r["video_id"] for r in catalog_rows], pa.string())
    table = ledger.table()
    table = table.filter(pc.is_in(table.column("video_id"), value_set=ids))
    return table.sort_by("source")


def _check_backends(config: PreprocessConfig) -> None:
    """Build (not set up) each backend now, so a missing weight file fails before any video is read."""
    for role, name in config.annotate.roles().items():
        build_annotator(role, name, config.annotate.backend_config.get(role))


def run_preprocess(input: str, output: str | os.PathLike, config: PreprocessConfig | None = None,
                   engine: str = "ray") -> dict:
    """Preprocess every video of ``input`` into shards under ``output``; returns the summary dict.

    ``engine="ray"`` runs on Ray Data (joining ``config.ray.address`` or a local cluster);
    ``"local"`` calls the same stages in this process. Reruns resume from the ledger.
    """
    config = config or PreprocessConfig()
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}, got {engine!r}")
    _check_backends(config)
    out = Path(output)
    ledger = Ledger(out)
    removed = ledger.reconcile()
    if removed:
        log.info("removed %d files of an interrupted run: %s", len(removed), [p.name for p in removed][:5])
    catalog_rows = Catalog(config.extensions)(input)
    done = ledger.done_ids(retry_failed=config.retry_failed)
    todo = [r for r in catalog_rows if r["video_id"] not in done]
    log.info("%d inputs, %d already finished, %d to process", len(catalog_rows), len(catalog_rows) - len(todo), len(todo))
    _write_json(out / "config.json", config.to_dict())
    stats = RunStats(len(catalog_rows), len(catalog_rows) - len(todo), config.ray.progress_every_s)
    holder: dict = {}
    started = engine == "ray" and bool(todo) and _init(config)  # nothing left: no cluster to start
    try:
        rows = iter_local(todo, config) if engine == "local" or not todo else _iter_ray(todo, config, holder)
        with ShardSink(out, config.write, stats) as sink:
            for row in rows:
                sink.add(row)
    finally:
        if started:
            ray.shutdown()
    return _finish(ledger, catalog_rows, stats, engine=engine, input=input, ray_stats=holder.get("stats", ""))


def _finish(ledger: Ledger, catalog_rows: list[dict], stats: RunStats, **extra) -> dict:
    """Write the run table and the summary; log where the time went."""
    out = ledger.dir.parent
    inputs = _inputs_table(ledger, catalog_rows)
    pq.write_table(inputs, out / "inputs.parquet.tmp")
    os.replace(out / "inputs.parquet.tmp", out / "inputs.parquet")
    all_time: dict[str, int] = {}
    for status in inputs.column("status").to_pylist():
        all_time[status] = all_time.get(status, 0) + 1
    summary = stats.summary(output=str(out), inputs_by_status=all_time, stage_time_columns=list(STAGE_TIMES),
                            shards=len(list(ledger.shard_dir.glob("shard-*.tar"))), **extra)
    _write_json(out / "summary.json", summary)
    shares = ", ".join(f"{k} {v['share_of_worker_time']}" for k, v in summary["stages"].items())
    log.info("%d clips from %d videos in %.1f s (%.1f clips/min); worker time: %s", summary["clips"],
             summary["videos_processed"], summary["wall_s"], summary["clips_per_min"], shares)
    return summary


def _init(config: PreprocessConfig) -> bool:
    from .ray_adapter import init_ray

    return init_ray(config)


def _iter_ray(rows: list[dict], config: PreprocessConfig, holder: dict):
    from .ray_adapter import iter_ray

    return iter_ray(rows, config, holder)
