"""`bench overhead`: /hello throughput with instrumentation on vs off, per row.

Each row is measured in one paired run: on and off alternate (on, off, off,
on, ...) so a drift of the machine during the run hits both sides equally,
and the ratio of the medians is printed. Target: >= 0.95 on every row.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.cores import split_cores
from bench.loadtest.runner import K6Run, run_k6
from bench.paths import LOADTESTS_DIR
from bench.procs import RunningRow, running_row
from services.rows import ROWS, get_row

TARGET_RATIO = 0.95
SCRIPT = LOADTESTS_DIR / "throughput.js"
_run_numbers = itertools.count()


@dataclass(frozen=True)
class RowOverhead:
    row: str
    on_rps: list[float]
    off_rps: list[float]

    @property
    def ratio(self) -> float:
        return statistics.median(self.on_rps) / statistics.median(self.off_rps)

    @property
    def pair_ratios(self) -> list[float]:
        return [on / off for on, off in zip(self.on_rps, self.off_rps, strict=True)]


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    parser = subparsers.add_parser(
        "overhead",
        help="measure /hello throughput with instrumentation on vs off",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--rows", nargs="+", default=[r.name for r in ROWS], metavar="ROW")
    parser.add_argument("--rounds", type=int, default=6, help="on/off pairs per row")
    parser.add_argument("--seconds", type=float, default=3.0, help="measured seconds per slice")
    parser.add_argument("--vus", type=int, default=8, help="concurrent k6 users")
    parser.set_defaults(handler=run)


def measure_rps(server: RunningRow, args: argparse.Namespace, workdir: Path) -> float:
    """Closed-loop /hello requests per second over ``args.seconds`` (after a warm-up)."""
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
    metrics = result.summary.get("metrics", {})
    if result.exit_code != 0 or "http_reqs{scenario:measure}" not in metrics:
        log_tail = result.stdout_summary()[-2000:]
        raise RuntimeError(f"k6 exited {result.exit_code} against {server.name}:\n{log_tail}")
    count: float = metrics["http_reqs{scenario:measure}"]["values"]["count"]
    return count / float(args.seconds)


def measure_row(row: str, args: argparse.Namespace, workdir: Path) -> RowOverhead:
    """Both variants run side by side on the same cores; k6 alternates between them.

    Short alternating slices (on, off, off, on, ...) make a noisy neighbour or
    a drifting machine hit both sides alike; the idle variant costs nothing.
    """
    on: list[float] = []
    off: list[float] = []
    cores = split_cores().services
    with (
        running_row(row, workdir, cpus=cores, instrumentation="on") as server_on,
        running_row(row, workdir, cpus=cores, instrumentation="off") as server_off,
    ):
        for round_index in range(args.rounds):
            pairs = [(server_on, on), (server_off, off)]
            for server, figures in pairs if round_index % 2 == 0 else reversed(pairs):
                figures.append(measure_rps(server, args, workdir))
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
    print(f"/hello, {args.vus} VUs, {args.seconds:g} s x {args.rounds} rounds per side; ")
    print(f"{split_cores().describe()}; default knobs (sync rows: 1 worker)\n")
    header = f"{'row':<18}{'rps on':>10}{'rps off':>10}{'on/off':>9}{'pairs min-max':>16}"
    print(f"{header}  target >= {TARGET_RATIO}")
    failures = 0
    with tempfile.TemporaryDirectory(prefix="bench-overhead-") as tmp:
        for row in rows:
            result = measure_row(row, args, Path(tmp))
            verdict = "ok" if result.ratio >= TARGET_RATIO else "BELOW TARGET"
            failures += verdict != "ok"
            print(
                f"{row:<18}{statistics.median(result.on_rps):>10.0f}"
                f"{statistics.median(result.off_rps):>10.0f}{result.ratio:>9.3f}"
                f"{min(result.pair_ratios):>9.2f}-{max(result.pair_ratios):.2f}  {verdict}",
                flush=True,
            )
    return 1 if failures else 0
