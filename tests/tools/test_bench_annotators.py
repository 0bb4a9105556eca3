"""The annotator benchmark runs its real code paths on toy configurations and reports every figure."""

import json

from tools.bench_annotators import main


def test_tiny_benchmark_reports_all_figures(tmp_path):
    out = tmp_path / "bench.json"
    assert main(["--tiny", "--frames", "17", "--batch", "2", "--iters", "1", "--frame-size", "40x56",
                 "--sam2", "sam2.1_b+", "--feature-batch", "4", "--sam2-procs", "2", "--sam2-tracks", "3",
                 "--sam2-keyframes", "0,8", "--sapiens", "sapiens_0.3b",
                 "--head-variants", "eager,channels_last", "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["random_weights"] is True and result["card"]
    sam2 = result["sam2"]
    assert [r["model"] for r in sam2] == ["sam2.1_b+"] and sam2[0]["frames"] == 17
    assert sam2[0]["what"] == "video propagation, 3 tracks boxed on frames [0, 8]"
    for key in ("stock_fps", "stock_fps_with_loading", "ours_fps_feature_batch_1", "ours_fps_feature_batch_4", "procs_2_fps",
                "ours_objects_one_at_a_time_fps"):
        assert sam2[0][key] > 0, key
    assert sam2[0]["frames_per_s"] == sam2[0]["ours_fps_feature_batch_4"]
    from preprocess.annotators.sam2_video import Sam2Config

    assert sam2[0][f"ours_{'fp32' if Sam2Config().bf16_weights else 'bf16'}_weights_fps"] > 0  # the other weight storage
    assert sam2[0][f"ours_{'no_' if Sam2Config().bf16_modules else ''}bf16_modules_fps"] > 0  # the other setting
    assert sam2[0]["ours_defaults_again_fps"] > 0
    best = max(sam2[0]["frames_per_s"], sam2[0]["procs_2_fps"])
    assert sam2[0]["best_over_stock"] == round(best / sam2[0]["stock_fps"], 2)
    assert [r["model"] for r in result["sapiens"]] == ["sapiens_0.3b pose", "sapiens_0.3b depth"]
    for row in result["sapiens"]:
        rates = [row[f"{v}_{p}_fps"] for v in ("eager", "channels_last") for p in ("end_to_end", "model_only")]
        assert min(rates + [row["backbone_only_fps"]]) > 0
        assert row["end_to_end_fps"] == max(row["eager_end_to_end_fps"], row["channels_last_end_to_end_fps"])


def test_sam2_prompts_box_every_track_on_every_keyframe_inside_the_frame():
    from tools.bench_sam2 import box_prompts

    prompts = box_prompts((512, 912), tracks=4, keyframes=(0, 50, 100))
    assert sorted(prompts) == [0, 1, 2, 3]
    assert all(sorted(boxes) == [0, 50, 100] for boxes in prompts.values())
    distinct = {boxes[0] for boxes in prompts.values()}
    assert len(distinct) == 4  # one box per track, not the same object four times
    assert all(0 <= x0 < x1 <= 912 and 0 <= y0 < y1 <= 512 for x0, y0, x1, y1 in distinct)
