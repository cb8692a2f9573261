"""`bench versus`: rows against a baseline row, requests per CPU-second, paired rounds.

Each round starts the row and the baseline fresh, both pinned to the same
core, and loads both in the same seconds (bench.paired); k6 runs on the
other core. A row's figure is the median, over rounds, of that round's
row/baseline efficiency ratio (requests per CPU-second of each side's
processes), with a 95% interval over the rounds.

An A/A control runs first: the baseline against itself. Its interval must
hold 1 (else the method is biased here, and the run says so and exits 1),
and its per-round range is the noise floor: a row is called faster or
slower only when its whole interval lies outside that range.

``--instrumentation off`` runs both sides on the bare app (as `bench
overhead`'s bare side): the servers and frameworks alone, without the
metrics every row normally carries, which cost more on multiprocess rows
(gunicorn, Granian) than on in-process ones (uvicorn).
"""

from __future__ import annotations

import argparse
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench.atomic import write_json_atomically
from bench.cores import split_cores
from bench.paired import METHODS, Contender, Load, PairResult, measure
from services.rows import ROWS, UnknownRowError, get_row

DEFAULT_BASELINE = "fastapi-async"
# These call the latency service or the database, which paired runs do not start.
UNSUPPORTED_PREFIXES = ("/downstream", "/db")


@dataclass(frozen=True)
class Comparison:
    """One row against the baseline, as printed and written."""

    row: str
    baseline: str
    rounds: int
    row_efficiency: float
    baseline_efficiency: float
    efficiency_ratio: float
    interval: tuple[float, float] | None
    pair_range: tuple[float, float]
    throughput_ratio: float

    @classmethod
    def of(cls, row: str, baseline: str, result: PairResult) -> Comparison:
        pairs = result.pair_efficiency_ratios()
        return cls(
            row=row,
            baseline=baseline,
            rounds=len(pairs),
            row_efficiency=result.a.median_efficiency(),
            baseline_efficiency=result.b.median_efficiency(),
            efficiency_ratio=result.efficiency_ratio,
            interval=result.efficiency_interval(),
            pair_range=(min(pairs), max(pairs)),
            throughput_ratio=result.throughput_ratio,
        )

    def verdict(self, noise: tuple[float, float] | None) -> str:
        """faster / slower when the interval clears 1 and the A/A range, else 'within noise'."""
        if self.interval is None:
            return "one round: no interval"
        low, high = self.interval
        floor_low, floor_high = noise or (1.0, 1.0)
        if low > max(1.0, floor_high):
            return f"faster, {self.efficiency_ratio:.2f}x"
        if high < min(1.0, floor_low):
            return f"slower, {self.efficiency_ratio:.2f}x"
        return "within noise"


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    parser = subparsers.add_parser(
        "versus",
        help="rows against a baseline row: requests per CPU-second, paired rounds, A/A control",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--rows", nargs="+", metavar="ROW", help="rows to compare (default: every other row)"
    )
    parser.add_argument("--baseline", default=DEFAULT_BASELINE, metavar="ROW")
    parser.add_argument(
        "--endpoint", default="/hello", help="path and query every request sends, e.g. /io?ms=10"
    )
    parser.add_argument("--rounds", type=int, default=10, help="pairs per row (fresh processes)")
    parser.add_argument("--seconds", type=float, default=3.0, help="measured seconds per slice")
    parser.add_argument("--vus", type=int, default=8, help="closed-loop k6 users per side")
    parser.add_argument("--method", choices=METHODS, default="simultaneous")
    parser.add_argument(
        "--instrumentation",
        choices=("on", "off"),
        default="on",
        help="off: both sides serve the bare app, without the metrics (default: on)",
    )
    parser.add_argument(
        "--no-control", action="store_true", help="skip the A/A control (baseline vs itself)"
    )
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the figures here")
    parser.set_defaults(handler=run)


def _argument_error(args: argparse.Namespace) -> str | None:
    if args.rounds < 1 or args.seconds <= 0 or args.vus < 1:
        return "--rounds, --seconds and --vus must be positive"
    if not args.endpoint.startswith("/"):
        return f"--endpoint {args.endpoint!r} must be a path starting with '/'"
    if args.endpoint.startswith(UNSUPPORTED_PREFIXES):
        return (
            f"--endpoint {args.endpoint}: needs the latency service or the database, "
            "which paired runs do not start"
        )
    try:
        get_row(args.baseline)
        for name in args.rows or ():
            get_row(name)
    except UnknownRowError as error:
        return str(error)
    if args.json and not args.json.parent.is_dir():
        return f"--json {args.json}: no directory {args.json.parent}"
    return None


def _print_line(label: str, comparison: Comparison, verdict: str) -> None:
    low, high = comparison.pair_range
    print(
        f"{label:<24}{comparison.row_efficiency:>9.0f}{comparison.baseline_efficiency:>9.0f}"
        f"{comparison.efficiency_ratio:>8.3f}{_interval_text(comparison.interval):>14}"
        f"{low:>8.2f}-{high:<5.2f}{comparison.throughput_ratio:>7.2f}  {verdict}",
        flush=True,
    )


def run(args: argparse.Namespace) -> int:
    error = _argument_error(args)
    if error:
        print(f"bench versus: {error}")
        return 2
    baseline = args.baseline
    rows = args.rows or [row.name for row in ROWS if row.name != baseline]
    load = Load(endpoint=args.endpoint, vus=args.vus, seconds=args.seconds, method=args.method)
    print(
        f"{args.endpoint}, {args.vus} VUs per side, {args.seconds:g} s x {args.rounds} rounds, "
        f"{args.method}; baseline {baseline}"
    )
    print(
        f"{split_cores().describe()}; default knobs (sync rows: 1 worker); "
        f"instrumentation {args.instrumentation}\n"
    )
    knobs = {"instrumentation": args.instrumentation}
    print(
        f"{'row':<24}{'req/cpu-s':>9}{'base':>9}{'ratio':>8}{'95% interval':>14}"
        f"{'per-round':>14}{'rps x':>7}  verdict"
    )
    comparisons: list[Comparison] = []
    noise: tuple[float, float] | None = None
    control_ok = True
    with tempfile.TemporaryDirectory(prefix="bench-versus-") as tmp:
        workdir = Path(tmp)

        def compare(row: str) -> Comparison:
            result = measure(
                Contender(row, knobs),
                Contender(baseline, knobs),
                args.rounds,
                load,
                workdir=workdir,
                testid=f"versus-{row}",
            )
            return Comparison.of(row, baseline, result)

        if not args.no_control:
            control = compare(baseline)
            interval = control.interval
            control_ok = interval is None or interval[0] <= 1.0 <= interval[1]
            noise = control.pair_range
            comparisons.append(control)
            verdict = "control passed" if control_ok else "CONTROL FAILED: biased here"
            _print_line(f"A/A {baseline}", control, verdict)
        for row in rows:
            comparison = compare(row)
            comparisons.append(comparison)
            _print_line(row, comparison, comparison.verdict(noise))
    if args.json:
        payload = {
            "endpoint": args.endpoint,
            "load": asdict(load),
            "rounds": args.rounds,
            "instrumentation": args.instrumentation,
            "control_passed": control_ok if not args.no_control else None,
            "comparisons": [asdict(c) | {"verdict": c.verdict(noise)} for c in comparisons],
        }
        write_json_atomically(args.json, payload)
        print(f"\nwritten: {args.json}")
    return 0 if control_ok else 1


def _interval_text(interval: tuple[float, float] | None) -> str:
    return f"{interval[0]:.3f}-{interval[1]:.3f}" if interval else "-"
