"""`bench overhead --peers`: our instrumentation and the metrics libraries people use
instead, each against the bare app, on the same rows in the same run.

For each row the contenders are ours (``on``) and every peer library that
applies to its framework (services/peers), each measured against the bare app
in paired rounds (bench.paired: fresh processes, one core, both sides in the
same seconds), plus an A/A control (bare against bare) whose spread is the
run's noise floor. Rounds are interleaved across the contenders (round 1 of
each, then round 2 of each, ...), so the machine's drift between minutes lands
on every contender alike.

Per contender and endpoint: the efficiency ratio (requests per CPU-second,
instrumented / bare; median over rounds, with its 95% interval) and the CPU
time the library adds to one request, in microseconds (median over rounds of
1e6 / efficiency, instrumented minus bare).
"""

from __future__ import annotations

import argparse
import statistics
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from bench.paired import Contender, Load, PairResult, Side, measure_round
from services.peers import peers_for
from services.rows import get_row

OURS = "on"
CONTROL = "control"  # bare against bare
# The cost ours must stay under, as a fraction of the bare app's efficiency.
OUR_TARGET = 0.97


@dataclass
class ContenderResult:
    """One instrumentation of one row on one endpoint, against the bare app."""

    row: str
    endpoint: str
    instrumentation: str  # "on", a peer's name, or "control"
    a: Side = field(default_factory=Side)
    b: Side = field(default_factory=Side)

    @property
    def pair(self) -> PairResult:
        return PairResult(self.a, self.b)

    def added_microseconds(self) -> float:
        """Median over rounds of the CPU time per request the instrumentation adds."""
        return statistics.median(
            1e6 / a.requests_per_cpu_second - 1e6 / b.requests_per_cpu_second
            for a, b in zip(self.a.slices, self.b.slices, strict=True)
        )


def instrumentations(row: str) -> list[str]:
    """What a row is measured with: ours, each applicable peer, then the A/A control."""
    framework = get_row(row).framework
    return [OURS, *(peer.name for peer in peers_for(framework)), CONTROL]


def _contenders(row: str, instrumentation: str) -> tuple[Contender, Contender]:
    bare = Contender(row, {"instrumentation": "off"})
    if instrumentation == CONTROL:
        return bare, bare
    return Contender(row, {"instrumentation": instrumentation}), bare


def measure_row(
    row: str, endpoints: list[str], rounds: int, load: Load, workdir: Path
) -> Iterator[ContenderResult]:
    """Every instrumentation of ``row`` on every endpoint, rounds interleaved; yields
    each endpoint's results when its last round is done."""
    for endpoint in endpoints:
        endpoint_load = Load(endpoint, load.vus, load.seconds, load.method)
        results = [ContenderResult(row, endpoint, name) for name in instrumentations(row)]
        for round_index in range(rounds):
            for result in results:
                a, b = _contenders(row, result.instrumentation)
                slice_a, slice_b = measure_round(
                    a,
                    b,
                    round_index,
                    endpoint_load,
                    workdir=workdir,
                    testid=f"overhead-peers-{row}-{result.instrumentation}",
                )
                result.a.slices.append(slice_a)
                result.b.slices.append(slice_b)
        yield from results


def table_header() -> str:
    return (
        "| row | endpoint | instrumentation | req/CPU-s vs bare | 95% interval "
        "| µs added per request | rounds min-max |\n|---|---|---|---:|---|---:|---|"
    )


def table_line(result: ContenderResult) -> str:
    pair = result.pair
    interval = pair.efficiency_interval()
    shown = "-" if interval is None else f"{interval[0]:.3f}-{interval[1]:.3f}"
    ratios = pair.pair_efficiency_ratios()
    name = (
        "A/A control (bare vs bare)"
        if result.instrumentation == CONTROL
        else ("ours" if result.instrumentation == OURS else result.instrumentation)
    )
    return (
        f"| {result.row} | `{result.endpoint}` | {name} | {pair.efficiency_ratio:.3f} "
        f"| {shown} | {result.added_microseconds():.1f} | {min(ratios):.2f}-{max(ratios):.2f} |"
    )


def verdicts(results: list[ContenderResult]) -> list[str]:
    """Per row and endpoint: does ours meet its target, and is it the cheapest?"""
    lines = []
    keys = dict.fromkeys((r.row, r.endpoint) for r in results)
    for row, endpoint in keys:
        group = [r for r in results if (r.row, r.endpoint) == (row, endpoint)]
        ours = next(r for r in group if r.instrumentation == OURS)
        control = next(r for r in group if r.instrumentation == CONTROL)
        peers = [r for r in group if r.instrumentation not in {OURS, CONTROL}]
        cheaper = [
            p.instrumentation for p in peers if p.pair.efficiency_ratio > ours.pair.efficiency_ratio
        ]
        noise = abs(control.pair.efficiency_ratio - 1)
        target = "meets" if ours.pair.efficiency_ratio >= OUR_TARGET else "MISSES"
        against = (
            "cheaper than every peer"
            if not cheaper
            else "peers cheaper than ours: " + ", ".join(cheaper)
        )
        lines.append(
            f"{row} {endpoint}: ours {ours.pair.efficiency_ratio:.3f} of bare ({target} "
            f">= {OUR_TARGET}); {against}; A/A control off by {noise:.3f}"
        )
    return lines


def run_peers(args: argparse.Namespace, rows: list[str], workdir: Path) -> int:
    """Print the table (markdown, for docs/performance.md) and the verdicts."""
    load = Load("/hello", args.vus, args.seconds, args.method)
    print(table_header(), flush=True)
    results: list[ContenderResult] = []
    for row in rows:
        for result in measure_row(row, args.endpoints, args.rounds, load, workdir):
            results.append(result)
            print(table_line(result), flush=True)
    print()
    lines = verdicts(results)
    for line in lines:
        print(line)
    return 0 if all("meets" in line and "every peer" in line for line in lines) else 1
