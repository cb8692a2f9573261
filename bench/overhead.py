"""`bench overhead`: what the instrumentation costs, per row, on /hello.

Each round starts the row twice, instrumented and bare, pinned to the same
core, measures them and stops them; k6 runs on the other core. Fresh
processes every round, because one process pair is not enough: two starts
of the same bare app differ by up to 1-2% in CPU per request (memory
layout, hash seed), which a single pair would charge to the
instrumentation. Two ways to load a pair:
  * simultaneous (default): each slice loads both at once, closed loop, so
    both share the core in the same seconds and a slow moment of a shared
    machine hits both alike;
  * alternating: one at a time in short slices (on, off, off, on, ...).

Two figures per row, each the median over rounds of that round's on/off
ratio:
  * throughput (requests per second), what a user sees, but only a fair
    measure when the server, not k6, is the bottleneck;
  * efficiency (requests per CPU-second of the row's processes), which does
    not depend on who the bottleneck is: the throughput the row would reach
    when CPU-bound. The verdict uses this one. Target: >= 0.95 on every row.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from bench.cores import split_cores
from bench.loadtest.runner import K6Run, run_k6
from bench.paths import LOADTESTS_DIR
from bench.procs import RunningRow, running_row
from services.rows import ROWS, get_row

TARGET_RATIO = 0.95
SCRIPT = LOADTESTS_DIR / "throughput.js"
PAIR_SCRIPT = LOADTESTS_DIR / "throughput-pair.js"
_run_numbers = itertools.count()


@dataclass(frozen=True)
class Slice:
    rps: float
    requests_per_cpu_second: float


@dataclass
class Side:
    slices: list[Slice] = field(default_factory=list)

    def median_rps(self) -> float:
        return statistics.median(s.rps for s in self.slices)

    def median_efficiency(self) -> float:
        return statistics.median(s.requests_per_cpu_second for s in self.slices)


@dataclass(frozen=True)
class RowOverhead:
    row: str
    on: Side
    off: Side

    @property
    def throughput_ratio(self) -> float:
        return statistics.median(self._pair_ratios(lambda s: s.rps))

    @property
    def efficiency_ratio(self) -> float:
        return statistics.median(self.pair_efficiency_ratios())

    def pair_efficiency_ratios(self) -> list[float]:
        return self._pair_ratios(lambda s: s.requests_per_cpu_second)

    def _pair_ratios(self, figure: Callable[[Slice], float]) -> list[float]:
        # A round's two sides ran in the same seconds: their ratio cancels the
        # machine's drift between rounds, which medians taken per side would keep.
        pairs = zip(self.on.slices, self.off.slices, strict=True)
        return [figure(on) / figure(off) for on, off in pairs]


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    parser = subparsers.add_parser(
        "overhead",
        help="measure what the instrumentation costs on /hello, per row",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--rows", nargs="+", default=[r.name for r in ROWS], metavar="ROW")
    parser.add_argument(
        "--rounds", type=int, default=10, help="on/off pairs per row (fresh processes each)"
    )
    parser.add_argument("--seconds", type=float, default=3.0, help="measured seconds per slice")
    parser.add_argument("--vus", type=int, default=8, help="concurrent k6 users")
    parser.add_argument(
        "--method",
        choices=("simultaneous", "alternating"),
        default="simultaneous",
        help=(
            "simultaneous: both servers under load at once, on one core (a slow moment of the "
            "machine hits both); alternating: one at a time, on, off, off, on, ..."
        ),
    )
    parser.add_argument(
        "--control",
        action="store_true",
        help="A/A control: both sides bare, to see the method's own noise and bias",
    )
    parser.set_defaults(handler=run)


def tree_cpu_seconds(pid: int) -> float:
    root = psutil.Process(pid)
    total = 0.0
    for process in [root, *root.children(recursive=True)]:
        times = process.cpu_times()
        total += times.user + times.system
    return total


def measure_slice(server: RunningRow, args: argparse.Namespace, workdir: Path) -> Slice:
    """One k6 run of closed-loop /hello requests: its rate and the row's CPU per request."""
    cpu_before = tree_cpu_seconds(server.process.pid)
    result = run_k6(
        K6Run(
            script=SCRIPT,
            env={
                "BASE_URL": server.base_url,
                "ENDPOINT": "/hello",
                "SERVICE": server.name,
                "VUS": str(args.vus),
                "MEASURE_SECONDS": str(args.seconds),
            },
            run_dir=workdir / f"k6-{next(_run_numbers)}",
            testid=f"overhead-{server.name}",
            cpus=split_cores().load,
        ),
        timeout_s=args.seconds + 60,
    )
    cpu_seconds = tree_cpu_seconds(server.process.pid) - cpu_before
    metrics = result.summary.get("metrics", {})
    if result.exit_code != 0 or "http_reqs{scenario:measure}" not in metrics:
        log_tail = result.stdout_summary()[-2000:]
        raise RuntimeError(f"k6 exited {result.exit_code} against {server.name}:\n{log_tail}")
    measured: float = metrics["http_reqs{scenario:measure}"]["values"]["count"]
    everything: float = metrics["http_reqs"]["values"]["count"]  # warm-up included, like the CPU
    return Slice(measured / float(args.seconds), everything / max(cpu_seconds, 1e-6))


def _count(metrics: dict[str, Any], scenario: str) -> float:
    count: float = (
        metrics.get(f"http_reqs{{scenario:{scenario}}}", {}).get("values", {}).get("count", 0)
    )
    return count


def measure_pair(
    servers: tuple[RunningRow, RunningRow], args: argparse.Namespace, workdir: Path
) -> tuple[Slice, Slice]:
    """One k6 run against both servers at once (closed loop each): a slice per side."""
    cpu_before = [tree_cpu_seconds(server.process.pid) for server in servers]
    result = run_k6(
        K6Run(
            script=PAIR_SCRIPT,
            env={
                "BASE_URL_A": servers[0].base_url,
                "BASE_URL_B": servers[1].base_url,
                "ENDPOINT": "/hello",
                "SERVICE": servers[0].name,
                "VUS": str(args.vus),
                "MEASURE_SECONDS": str(args.seconds),
            },
            run_dir=workdir / f"k6-{next(_run_numbers)}",
            testid=f"overhead-{servers[0].name}",
            cpus=split_cores().load,
        ),
        timeout_s=args.seconds + 60,
    )
    metrics = result.summary.get("metrics", {})
    if (
        result.exit_code != 0
        or not _count(metrics, "measure_a")
        or not _count(metrics, "measure_b")
    ):
        log_tail = result.stdout_summary()[-2000:]
        raise RuntimeError(f"k6 exited {result.exit_code} against {servers[0].name}:\n{log_tail}")
    slices = []
    for side, server, before in zip("ab", servers, cpu_before, strict=True):
        cpu_seconds = tree_cpu_seconds(server.process.pid) - before
        everything = _count(metrics, f"warmup_{side}") + _count(metrics, f"measure_{side}")
        slices.append(
            Slice(
                _count(metrics, f"measure_{side}") / float(args.seconds),
                everything / max(cpu_seconds, 1e-6),
            )
        )
    return slices[0], slices[1]


def measure_round(
    row: str, round_index: int, args: argparse.Namespace, workdir: Path
) -> tuple[Slice, Slice]:
    """One on/off pair, each side a freshly started server: (on, off)."""
    cores = split_cores().services
    with (
        running_row(
            row, workdir, cpus=cores, instrumentation="off" if args.control else "on"
        ) as server_on,
        running_row(row, workdir, cpus=cores, instrumentation="off") as server_off,
    ):
        # Alternate which side goes first (k6 scenario a, or the first slice).
        first, second = (server_on, server_off) if round_index % 2 == 0 else (server_off, server_on)
        if args.method == "simultaneous":
            slice_first, slice_second = measure_pair((first, second), args, workdir)
        else:
            slice_first = measure_slice(first, args, workdir)
            slice_second = measure_slice(second, args, workdir)
    if first is server_on:
        return slice_first, slice_second
    return slice_second, slice_first


def measure_row(row: str, args: argparse.Namespace, workdir: Path) -> RowOverhead:
    on, off = Side(), Side()
    for round_index in range(args.rounds):
        on_slice, off_slice = measure_round(row, round_index, args, workdir)
        on.slices.append(on_slice)
        off.slices.append(off_slice)
    return RowOverhead(row, on, off)


def run(args: argparse.Namespace) -> int:
    if args.rounds < 1 or args.seconds <= 0 or args.vus < 1:
        print("bench overhead: --rounds, --seconds and --vus must be positive")
        return 2
    try:
        rows = [get_row(name).name for name in args.rows]
    except ValueError as error:
        print(f"bench overhead: {error}")
        return 2
    print(f"/hello, {args.vus} VUs, {args.seconds:g} s x {args.rounds} slices per side")
    print(f"{split_cores().describe()}; default knobs (sync rows: 1 worker)")
    print("A/A CONTROL: both sides run the bare app\n" if args.control else "")
    print(
        f"{'row':<18}{'rps on':>8}{'rps off':>9}{'ratio':>7}"
        f"{'req/cpu-s on':>14}{'off':>7}{'ratio':>7}{'pairs min-max':>15}"
        f"  verdict (efficiency >= {TARGET_RATIO})"
    )
    failures = 0
    with tempfile.TemporaryDirectory(prefix="bench-overhead-") as tmp:
        for row in rows:
            result = measure_row(row, args, Path(tmp))
            pairs = result.pair_efficiency_ratios()
            verdict = "ok" if result.efficiency_ratio >= TARGET_RATIO else "BELOW TARGET"
            failures += verdict != "ok"
            print(
                f"{row:<18}{result.on.median_rps():>8.0f}{result.off.median_rps():>9.0f}"
                f"{result.throughput_ratio:>7.3f}{result.on.median_efficiency():>14.0f}"
                f"{result.off.median_efficiency():>7.0f}{result.efficiency_ratio:>7.3f}"
                f"{min(pairs):>9.2f}-{max(pairs):.2f}  {verdict}",
                flush=True,
            )
    return 1 if failures else 0
