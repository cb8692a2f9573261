"""`bench compare RUN_A RUN_B`: two runs side by side, flagging only what both intervals separate.

For a before/after comparison (a new framework version, a config change)
and for checking the harness itself. Each run's figures are at its own
median machine speed; B's are moved to A's with the ratio of the two runs'
speed references, weighted by each row's CPU share at capacity (as within a
run, bench.matrix.repeats), unless --no-speed-adjust.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from bench.matrix import verdicts
from bench.matrix.analysis import Combo
from bench.matrix.markdown import NUMBER, TEXT, fmt_estimate, fmt_times, table
from bench.matrix.records import RunDataError
from bench.matrix.report import combos_from, compute
from bench.matrix.stats import Estimate, separated
from bench.paths import results_dir


@dataclass(frozen=True)
class Side:
    run_id: str
    profile: str
    combos: dict[tuple[str, str], Combo]
    rankings: set[tuple[str, str, str]]  # (workload, faster, slower)
    reference_unit_s: float | None


@dataclass(frozen=True)
class Difference:
    workload: str
    row: str
    a: Estimate | None
    b: Estimate | None  # at A's machine speed
    ratio: float | None  # b / a
    differs: bool  # beyond both intervals


def load_side(run: str) -> Side:
    candidate = Path(run)
    run_dir = candidate if candidate.is_dir() else results_dir() / run
    data = compute(run_dir)
    combos = combos_from(data)
    return Side(
        run_id=data["run"]["id"],
        profile=data["run"]["profile"]["name"],
        combos={(c.workload, c.row): c for c in combos},
        rankings={(r.workload, r.faster, r.slower) for r in verdicts.rankings(combos)},
        reference_unit_s=data["figures"]["speed"].get("reference_unit_s"),
    )


def speed_ratio(a: Side, b: Side) -> float:
    """How much slower B's machine ran than A's (1.05: its unit of work took 5% longer)."""
    if not a.reference_unit_s or not b.reference_unit_s:
        return 1.0
    return b.reference_unit_s / a.reference_unit_s


def moved(found: Estimate | None, factor: float) -> Estimate | None:
    if found is None:
        return None
    return replace(
        found,
        value=found.value * factor,
        low=None if found.low is None else found.low * factor,
        high=None if found.high is None else found.high * factor,
    )


def differences(a: Side, b: Side, *, adjust: bool = True) -> list[Difference]:
    """Per pair measured in both: the capacities, B at A's speed, and whether they differ."""
    slower = speed_ratio(a, b) if adjust else 1.0
    found = []
    for key in sorted(a.combos.keys() & b.combos.keys()):
        first, second = a.combos[key], b.combos[key]
        share = second.capacity_cpu_share or 0.0
        b_capacity = moved(second.capacity, 1.0 - share + share * slower)
        a_capacity = first.capacity
        apart = bool(
            a_capacity
            and b_capacity
            and (separated(a_capacity, b_capacity) or separated(b_capacity, a_capacity))
        )
        ratio = b_capacity.value / a_capacity.value if a_capacity and b_capacity else None
        found.append(Difference(key[0], key[1], a_capacity, b_capacity, ratio, apart))
    return found


@dataclass(frozen=True)
class RankingChanges:
    reversed: list[tuple[str, str, str]]  # (workload, faster in A, faster in B)
    only_a: list[tuple[str, str, str]]
    only_b: list[tuple[str, str, str]]


def ranking_changes(a: Side, b: Side) -> RankingChanges:
    """Claims about rows measured in both runs: reversed, or made by one run only."""
    both = a.combos.keys() & b.combos.keys()

    def comparable(claims: set[tuple[str, str, str]]) -> set[tuple[str, str, str]]:
        return {c for c in claims if (c[0], c[1]) in both and (c[0], c[2]) in both}

    in_a, in_b = comparable(a.rankings), comparable(b.rankings)
    flipped = sorted(c for c in in_a if (c[0], c[2], c[1]) in in_b)
    flipped_in_b = {(w, y, x) for w, x, y in flipped}
    return RankingChanges(
        reversed=flipped,
        only_a=sorted(in_a - in_b - set(flipped)),
        only_b=sorted(in_b - in_a - flipped_in_b),
    )


def comparison_lines(a: Side, b: Side, *, adjust: bool = True) -> list[str]:
    """The comparison as markdown: the table, then what changed in the rankings."""
    slower = speed_ratio(a, b)
    lines = [f"# `{a.run_id}` (A) against `{b.run_id}` (B)", ""]
    if adjust:
        lines += [
            f"B's machine ran {slower:.3f}x as slow as A's (the speed probes' median unit "
            "times); B's capacities are moved to A's speed by each row's CPU share at "
            "capacity.",
            "",
        ]
    rows = [
        [
            d.workload,
            d.row,
            fmt_estimate(d.a),
            fmt_estimate(d.b),
            fmt_times(d.ratio),
            "**differs**" if d.differs else "within the intervals",
        ]
        for d in differences(a, b, adjust=adjust)
    ]
    columns = [
        ("workload", TEXT),
        ("row", TEXT),
        ("capacity A (rps)", NUMBER),
        ("capacity B (rps)", NUMBER),
        ("B / A", NUMBER),
        ("", TEXT),
    ]
    lines += [*table(columns, rows), ""]
    changes = ranking_changes(a, b)
    if changes.reversed:
        lines.append("Rankings **reversed**:")
        lines += [f"- {w}: A ranks {x} above {y}, B the reverse" for w, x, y in changes.reversed]
    else:
        lines.append("No ranking reversed.")
    for label, claims in (("only A", changes.only_a), ("only B", changes.only_b)):
        if claims:
            lines.append(
                f"Ranked by {label}: " + "; ".join(f"{w}: {x} > {y}" for w, x, y in claims)
            )
    return lines


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    parser = subparsers.add_parser(
        "compare",
        help="two matrix runs side by side, flagging differences beyond both runs' intervals",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("run_a", metavar="RUN_A", help="run id under results/, or a run directory")
    parser.add_argument("run_b", metavar="RUN_B")
    parser.add_argument(
        "--no-speed-adjust",
        action="store_true",
        help="compare the figures as each run measured them (different machines, say)",
    )
    parser.set_defaults(handler=run_compare)


def run_compare(args: argparse.Namespace) -> int:
    if not args.run_a or not args.run_b:
        print("bench compare: give two runs: make compare A=<run-id> B=<run-id>", file=sys.stderr)
        return 2
    try:
        a, b = load_side(args.run_a), load_side(args.run_b)
    except RunDataError as error:
        print(f"bench compare: {error}", file=sys.stderr)
        return 2
    print("\n".join(comparison_lines(a, b, adjust=not args.no_speed_adjust)))
    return 0
