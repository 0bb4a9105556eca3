"""Two step profiles compared kernel by kernel, on reports laid out as bench-train writes them."""

import json

import pytest

from tools.cli import main
from tools.profile_diff import compare, load_profile, report
from tools.step_profile import kernel_table

WINDOWS = {"forward": [(0.0, 100.0), (1000.0, 1100.0)], "backward": [(100.0, 300.0), (1100.0, 1300.0)]}


def _report(path, kernels, top=0):
    """A bench-train report of two profiled steps whose kernels are (launch time, name, us)."""
    table = kernel_table(kernels, WINDOWS, steps=2, top=top)
    whole = kernel_table(kernels, {}, steps=2, top=top)["other"]  # as profile_steps reports the whole step
    path.write_text(json.dumps({"stages": [{"profile": {"steps": 2, "kernels_by_range": table, "kernels": whole}}]}))
    return path


def _both_steps(kernels):
    return kernels + [(t + 1000.0, name, us) for t, name, us in kernels]


@pytest.fixture
def reports(tmp_path):
    before = _both_steps([(10.0, "nchwToNhwcKernel", 900.0), (20.0, "triton_poi_fused_add_3", 300.0),
                          (30.0, "sm90_xmma_fprop", 2000.0), (150.0, "sm90_xmma_dgrad", 1000.0)])
    # recompiled: Inductor numbers the same kernel 7, and adds a transpose; the layout kernel is gone
    after = _both_steps([(20.0, "triton_poi_fused_add_7", 300.0), (25.0, "triton_poi_fused_transpose_1", 200.0),
                         (30.0, "sm90_xmma_fprop", 1500.0), (150.0, "sm90_xmma_dgrad", 1000.0)])
    return _report(tmp_path / "a.json", before), _report(tmp_path / "b.json", after)


def test_kernels_are_compared_per_range_largest_saving_first_with_inductors_numbers_pooled(reports):
    a, b = (load_profile(p) for p in reports)
    rows = compare(a, b)
    forward = {kernel: (round(change, 3), ams, bms) for change, kernel, ams, _, bms, _ in rows["forward"]}
    assert forward == {"nchwToNhwcKernel": (-0.9, 0.9, 0.0), "sm90_xmma_fprop": (-0.5, 2.0, 1.5),
                       "triton_poi_fused_add": (0.0, 0.3, 0.3), "triton_poi_fused_transpose": (0.2, 0.0, 0.2)}
    assert [row[1] for row in rows["forward"]][:2] == ["nchwToNhwcKernel", "sm90_xmma_fprop"]
    assert [(row[0], row[3], row[5]) for row in rows["backward"]] == [(0.0, 1.0, 1.0)]  # calls a step
    text = report(a, b, ["forward"], top=1)
    assert "== forward: A 3.20 ms, B 2.00 ms" in text and "backward" not in text.split("== forward")[1]
    assert "  all  " in text and "-1.20" in text  # the families' totals: 4.2 -> 3.0 ms a step


def test_a_report_listing_only_its_costliest_kernels_is_flagged(tmp_path):
    kernels = _both_steps([(10.0, "sm90_xmma_fprop", 2000.0), (20.0, "triton_poi_fused_add_1", 300.0)])
    full, short = _report(tmp_path / "full.json", kernels), _report(tmp_path / "short.json", kernels, top=1)
    text = report(load_profile(full), load_profile(short))
    assert "note: B's forward leaves 0.30 ms a step of kernels unnamed" in text
    assert "note: A's" not in text


def test_the_command_line_compares_two_reports_and_refuses_ones_without_a_profile(reports, tmp_path, capsys):
    a, b = reports
    assert main(["profile-diff", str(a), str(b), "--range", "backward"]) == 0
    assert "== backward: A 1.00 ms, B 1.00 ms" in capsys.readouterr().out
    unprofiled = tmp_path / "plain.json"
    unprofiled.write_text(json.dumps({"stages": [{"step_time_s": 0.3, "profile": None}]}))
    with pytest.raises(ValueError, match="--profile N --profile-kernels 0"):
        main(["profile-diff", str(unprofiled), str(b)])
    with pytest.raises(ValueError, match="no range forwards in either profile; they have backward, forward"):
        main(["profile-diff", str(a), str(b), "--range", "forwards"])
    with pytest.raises(ValueError, match="no measured case 1"):
        main(["profile-diff", str(a), str(b), "--row", "1"])
