"""The annotator benchmark runs its real code paths on toy configurations and reports every figure."""

import json

from tools.bench_annotators import main


def test_tiny_benchmark_reports_all_figures(tmp_path):
    out = tmp_path / "bench.json"
    assert main(["--tiny", "--frames", "3", "--batch", "2", "--iters", "1", "--frame-size", "40x56",
                 "--sam2", "sam2.1_b+", "--sapiens", "sapiens_0.3b", "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["random_weights"] is True and result["card"]
    assert [r["model"] for r in result["sam2"]] == ["sam2.1_b+"] and result["sam2"][0]["frames_per_s"] > 0
    assert [r["model"] for r in result["sapiens"]] == ["sapiens_0.3b pose", "sapiens_0.3b depth"]
    for row in result["sapiens"]:
        assert min(row["end_to_end_fps"], row["model_only_fps"], row["backbone_only_fps"]) > 0
