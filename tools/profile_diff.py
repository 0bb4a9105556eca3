"""Two training-step profiles compared kernel by kernel: which kernels a change sped up or slowed.

The inputs are reports of ``aa2 bench-train --profile N --profile-kernels 0 --out REPORT.json``,
for example one run as is and one with ``--set model.compile_channels_last=true``. For each named
range of the step (conditioning, forward, backward, ...) it lists the kernels whose GPU time a
step changed most, both ways, with their time and calls a step in each report. Inductor numbers the
kernels it generates (``triton_poi_fused_gelu_mul_12``); kernels that differ only in that number
are pooled, since two compilations number them differently. The kernel families' totals come
first. A report whose range lists fewer kernels than its family totals hold (``--profile-kernels``
above 0) is compared as far as it goes, with a note of what its lists leave out.

    aa2 profile-diff A.json B.json [--range forward --range backward] [--top 12]
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

INDUCTOR_NUMBER = re.compile(r"_\d+$")


def load_profile(path: Path, row: int = 0) -> dict:
    """The profile of measured case ``row`` (index into the report's ``stages``)."""
    stages = json.loads(Path(path).read_text()).get("stages") or []
    if not 0 <= row < len(stages):
        raise ValueError(f"{path}: no measured case {row} (the report has {len(stages)})")
    profile = stages[row].get("profile")
    if not profile or not profile.get("kernels_by_range") or not profile.get("kernels"):
        raise ValueError(f"{path}: case {row} has no profile; run aa2 bench-train with --profile N --profile-kernels 0")
    return profile


def pooled(names: list[dict]) -> dict[str, tuple[float, float]]:
    """Kernel name (Inductor's number dropped) -> (ms a step, calls a step)."""
    out: dict[str, tuple[float, float]] = {}
    for k in names:
        key = INDUCTOR_NUMBER.sub("", k["name"])
        ms, calls = out.get(key, (0.0, 0.0))
        out[key] = (ms + k["ms"], calls + k["calls"])
    return out


def unlisted_ms(profile: dict) -> dict[str, float]:
    """Per range, the kernel time its family totals hold beyond the kernels it lists by name."""
    out = {}
    for name, entry in profile["kernels_by_range"].items():
        gap = sum(entry["kinds"].values()) - sum(k["ms"] for k in entry["names"])
        if gap > 1e-3:
            out[name] = gap
    return out


def compare(a: dict, b: dict, ranges: list[str] | None = None) -> dict[str, list[tuple]]:
    """Per range (all ranges of either profile unless given): rows (change in ms, name, A's ms,
    A's calls, B's ms, B's calls), the largest saving first."""
    ka, kb = a["kernels_by_range"], b["kernels_by_range"]
    out = {}
    for name in ranges or sorted(set(ka) | set(kb)):
        pa, pb = pooled(ka.get(name, {}).get("names", [])), pooled(kb.get(name, {}).get("names", []))
        rows = []
        for kernel in set(pa) | set(pb):
            (ams, acalls), (bms, bcalls) = pa.get(kernel, (0.0, 0.0)), pb.get(kernel, (0.0, 0.0))
            rows.append((bms - ams, kernel, ams, acalls, bms, bcalls))
        out[name] = sorted(rows)
    return out


def report(a: dict, b: dict, ranges: list[str] | None = None, top: int = 12) -> str:
    """The comparison as text: family totals, then per range its totals and the ``top`` kernels
    that gained and lost most."""
    lines = ["kernel families, ms a step:          A         B    B - A"]
    fa, fb = a["kernels"]["kinds"], b["kernels"]["kinds"]  # the whole step's, as bench-train reports them
    for kind in sorted(set(fa) | set(fb), key=lambda k: -max(fa.get(k, 0.0), fb.get(k, 0.0))):
        lines.append(f"  {kind:30s} {fa.get(kind, 0.0):8.2f}  {fb.get(kind, 0.0):8.2f}  {fb.get(kind, 0.0) - fa.get(kind, 0.0):+7.2f}")
    lines.append(f"  {'all':30s} {sum(fa.values()):8.2f}  {sum(fb.values()):8.2f}  {sum(fb.values()) - sum(fa.values()):+7.2f}")
    for which, profile in (("A", a), ("B", b)):
        for name, ms in unlisted_ms(profile).items():
            lines.append(f"note: {which}'s {name} leaves {ms:.2f} ms a step of kernels unnamed (--profile-kernels 0 names all)")
    ka, kb = a["kernels_by_range"], b["kernels_by_range"]
    for name, rows in compare(a, b, ranges).items():
        total_a = sum(ka.get(name, {}).get("kinds", {}).values())
        total_b = sum(kb.get(name, {}).get("kinds", {}).values())
        lines.append(f"== {name}: A {total_a:.2f} ms, B {total_b:.2f} ms a step  (change, A ms/calls, B ms/calls, kernel)")
        shown = rows if len(rows) <= 2 * top else rows[:top] + [None] + rows[-top:]
        for row in shown:
            if row is None:
                lines.append("   ...")
                continue
            change, kernel, ams, acalls, bms, bcalls = row
            lines.append(f"  {change:+7.2f}  {ams:7.2f}/{acalls:6.1f}  {bms:7.2f}/{bcalls:6.1f}  {kernel[:100]}")
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("a", type=Path, help="report of aa2 bench-train --profile N --profile-kernels 0 (before)")
    parser.add_argument("b", type=Path, help="the same of the run to compare (after)")
    parser.add_argument("--range", dest="ranges", action="append", metavar="NAME",
                        help="compare only this range of the step (repeatable; default: every range)")
    parser.add_argument("--top", type=int, default=12, help="kernels listed each way per range")
    parser.add_argument("--row", type=int, default=0,
                        help="which measured case of each report, as listed in its 'stages' (default: the first)")


def run(args: argparse.Namespace) -> int:
    if args.top < 1:
        raise ValueError("--top must be at least 1")
    a, b = load_profile(args.a, args.row), load_profile(args.b, args.row)
    known = set(a["kernels_by_range"]) | set(b["kernels_by_range"])
    unknown = [name for name in args.ranges or [] if name not in known]
    if unknown:
        raise ValueError(f"no range {', '.join(unknown)} in either profile; they have {', '.join(sorted(known))}")
    print(report(a, b, args.ranges, args.top))
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser("profile-diff", help="compare two bench-train profiles kernel by kernel",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    parser.set_defaults(func=run)


if __name__ == "__main__":
    cli = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(cli)
    raise SystemExit(run(cli.parse_args()))
