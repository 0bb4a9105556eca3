"""Localisation as a stage of its own: the same samples as inside annotate, failures recorded on
their rows, boxes carried between the stages as JSON, and the stage placed on Ray."""

from __future__ import annotations

import shutil

import pytest

from dataset.shards import iter_samples, list_shards
from preprocess.annotators.base import Localisation, ObjectTrack, localisation_from_json, localisation_to_json
from preprocess.config import PreprocessConfig, apply_overrides
from preprocess.pipeline import run_preprocess
from preprocess.ray_adapter import fit_to_cluster
from preprocess.stages import AnnotateStage, LocaliseStage

from .pipeline_corpus import make_crawl, pipeline_config
from .test_pipeline_annotate_stage import clip_rows

pytestmark = pytest.mark.timeout(240)


def test_localisation_round_trips_through_json():
    loc = Localisation(person={0: (1.0, 2.0, 30.5, 40.0), 7: (2.0, 3.0, 31.0, 41.0)},
                       objects=[ObjectTrack("ball", {7: (5.0, 6.0, 9.0, 10.0)}), ObjectTrack("ball_2", {})])
    back = localisation_from_json(localisation_to_json(loc))
    assert back.person == loc.person and [(t.label, t.boxes) for t in back.objects] == [(t.label, t.boxes) for t in loc.objects]


def test_the_stage_writes_boxes_that_annotate_uses_and_failures_end_on_their_rows(tmp_path):
    make_crawl(tmp_path / "crawl", num_videos=1)
    video = next((tmp_path / "crawl" / "videos").glob("*.mp4"))
    (tmp_path / "crawl" / "videos" / "copy").mkdir()
    shutil.copy(video, tmp_path / "crawl" / "videos" / "copy" / "no_sidecar.mp4")  # the oracle cannot localise it
    inside = pipeline_config("annotate.batch_size=4")
    separate = pipeline_config("annotate.batch_size=4", "annotate.localise_concurrency=1")
    rows = clip_rows(tmp_path / "crawl" / "videos", inside)
    localised = LocaliseStage(separate.annotate)(rows)
    assert {(r["source"].rsplit("/", 1)[-1], r["status"], r["reason"], bool(r["localisation"]), r["t_localise"] > 0)
            for r in localised} == {(video.name, "ok", "", True, True), ("no_sidecar.mp4", "failed", "no_sidecar", False, True)}
    lone = [r for r in rows if r["source"].endswith("no_sidecar.mp4")][:1]  # a batch of one failing clip
    assert [(r["status"], r["reason"]) for r in LocaliseStage(separate.annotate)(lone)] == [("failed", "no_sidecar")]
    expected = AnnotateStage(inside.annotate)(rows)
    got = AnnotateStage(separate.annotate)(localised)
    assert [(r["status"], r["reason"]) for r in got] == [(r["status"], r["reason"]) for r in expected]
    for a, b in zip(got, expected):
        assert (a["json"], a["mask_npz"], a["pose_npz"], a["depth_npz"]) == (b["json"], b["mask_npz"], b["pose_npz"], b["depth_npz"])


def test_annotate_without_boxes_from_the_localise_stage_says_so(tmp_path):
    make_crawl(tmp_path / "crawl", num_videos=1)
    config = pipeline_config("annotate.localise_concurrency=1")
    rows = clip_rows(tmp_path / "crawl" / "videos", config)
    assert {(r["status"], r["reason"]) for r in AnnotateStage(config.annotate)(rows)} == {("failed", "no_localisation")}


def test_the_job_on_ray_with_a_localise_stage_writes_the_same_samples(ray_cluster, tmp_path):
    manifest = make_crawl(tmp_path / "crawl", num_videos=2)
    runs = {}
    for name, extra in {"inside": [], "separate": ["annotate.localise_concurrency=1", "annotate.localise_batch_size=3"]}.items():
        summary = run_preprocess(str(manifest), tmp_path / name, pipeline_config(*extra))
        samples = {s.key: s for tar in list_shards(tmp_path / name / "shards") for s in iter_samples(tar)}
        runs[name] = (summary, samples)
    (summary, separate), (_, inside) = runs["separate"], runs["inside"]
    assert summary["stages"]["localise"]["items"] == summary["stages"]["annotate"]["items"] == len(inside) == 4
    assert sorted(separate) == sorted(inside)
    for key, sample in inside.items():
        assert separate[key].meta.boxes == sample.meta.boxes
        assert (separate[key].character_mask == sample.character_mask).all()


def test_a_localise_stage_asking_for_gpus_fails_on_a_cluster_without_them():
    config = apply_overrides(PreprocessConfig(), ["annotate.localise_concurrency=1", "annotate.localise_num_gpus=1"])
    with pytest.raises(ValueError, match="annotate.localise_num_gpus=0"):
        fit_to_cluster(config, {"CPU": 8.0})
    fitted = fit_to_cluster(config, {"CPU": 1.0, "GPU": 1.0})
    assert fitted.annotate.localise_num_cpus < config.annotate.localise_num_cpus  # counted in the CPU fit
