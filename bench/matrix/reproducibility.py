"""`bench reproducibility`: run the matrix twice and say how far its verdicts moved.

The two runs differ only in their seed (the order of rows and workloads)
and the minutes they ran in. Printed per row and workload: the ratio of
the two runs' capacities (the primary figure; B at A's machine speed) and
of their knees, then every ranking that changed. The targets
(docs/performance.md): every capacity within 0.85-1.18x between two quick
runs (0.95-1.05x between two full runs), and no ranking reversed. Exits 1
when a target is missed.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from datetime import UTC, datetime
from typing import Any

from bench.atomic import write_json_atomically
from bench.matrix.compare import (
    Side,
    comparison_lines,
    differences,
    load_side,
    ranking_changes,
)
from bench.matrix.profiles import PROFILES
from bench.matrix.records import RunDataError
from bench.paths import results_dir

TARGETS = {"quick": (0.85, 1.18), "full": (0.95, 1.05)}
DEFAULT_SEEDS = (101, 202)


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    parser = subparsers.add_parser(
        "reproducibility",
        help="run the matrix twice (two seeds) and report how far its figures and rankings moved",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--profile", choices=sorted(PROFILES), default="quick")
    parser.add_argument("--seeds", type=int, nargs=2, default=DEFAULT_SEEDS, metavar="SEED")
    parser.add_argument("--rows", nargs="+", metavar="ROW", help="default: every row")
    parser.add_argument("--workloads", nargs="+", metavar="WORKLOAD", help="default: every one")
    parser.add_argument("--control", metavar="ROW", help="an A/A control in both runs")
    parser.add_argument(
        "--runs",
        nargs=2,
        metavar="RUN",
        help="compare two runs already made instead of making them",
    )
    parser.set_defaults(handler=run_reproducibility)


def knee_ratios(a: Side, b: Side) -> dict[str, float]:
    found = {}
    for key in sorted(a.combos.keys() & b.combos.keys()):
        first, second = a.combos[key].knee, b.combos[key].knee
        if first and second:
            found[" ".join(key)] = second.value / first.value
    return found


def _matrix(args: argparse.Namespace, seed: int, run_id: str) -> int:
    """One `bench matrix`, as `make bench` runs it; its exit code."""
    command = [sys.executable, "-m", "bench", "matrix", "--profile", args.profile]
    command += ["--seed", str(seed), "--run-id", run_id]
    if args.rows:
        command += ["--rows", *args.rows]
    if args.workloads:
        command += ["--workloads", *args.workloads]
    if args.control:
        command += ["--control", args.control]
    print(f"bench reproducibility: {' '.join(command[2:])}", file=sys.stderr)
    return subprocess.run(command, check=False, env=os.environ).returncode


def run_reproducibility(args: argparse.Namespace) -> int:
    if args.runs:
        names = list(args.runs)
    else:
        stamp = f"{datetime.now(UTC):%Y%m%d-%H%M%S}-{args.profile}"
        names = [f"{stamp}-repro-{seed}" for seed in args.seeds]
        for seed, name in zip(args.seeds, names, strict=True):
            status = _matrix(args, seed, name)
            if status != 0:
                print(f"bench reproducibility: run {name} failed ({status})", file=sys.stderr)
                return status
    try:
        a, b = load_side(names[0]), load_side(names[1])
    except RunDataError as error:
        print(f"bench reproducibility: {error}", file=sys.stderr)
        return 2
    profile = a.profile if args.runs else args.profile
    low, high = TARGETS.get(profile, TARGETS["quick"])
    ratios = {f"{d.workload} {d.row}": d.ratio for d in differences(a, b) if d.ratio}
    if not ratios:
        print("bench reproducibility: the two runs share no measured capacity", file=sys.stderr)
        return 2
    outside = {pair: ratio for pair, ratio in ratios.items() if not low <= ratio <= high}
    knees = knee_ratios(a, b)
    changes = ranking_changes(a, b)
    lines = comparison_lines(a, b)
    lines += [
        "",
        "Knee B / A (as measured, not a ranked figure): "
        + ", ".join(f"{pair} {ratio:.2f}" for pair, ratio in knees.items())
        + ".",
        "",
        f"Target ({profile}): every capacity within {low}-{high}x, no ranking reversed.",
        f"Capacity B / A: {min(ratios.values()):.3f}-{max(ratios.values()):.3f}; "
        "outside the target: "
        + (", ".join(f"{p} {r:.3f}" for p, r in outside.items()) or "none")
        + f"; rankings reversed: {len(changes.reversed)}.",
    ]
    met = not outside and not changes.reversed
    lines.append("Target met." if met else "Target MISSED.")
    print("\n".join(lines))
    write_json_atomically(
        results_dir() / f"{names[0]}-vs-{names[1]}.json",
        {
            "runs": names,
            "profile": profile,
            "target": [low, high],
            "capacity_ratios": ratios,
            "knee_ratios": knees,
            "reversed": changes.reversed,
            "only_a": changes.only_a,
            "only_b": changes.only_b,
            "met": met,
        },
    )
    return 0 if met else 1
