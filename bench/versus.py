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

A row may carry its own knobs, ROW:BENCH_X=V[,BENCH_Y=W], so that two
sides can be one row that differs only by them, e.g. the async rows'
database drivers:
  --baseline fastapi-async:BENCH_DB_DRIVER=psycopg
  --rows fastapi-async:BENCH_DB_DRIVER=asyncpg --endpoint /db/query
An endpoint under /db/ gets a seeded throwaway PostgreSQL for the run
(bench/postgres.py; BENCH_DATABASE_URL names your own instead), on the
services core beside the pair: each side's CPU is its own processes', the
database's is not counted on either.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import psycopg

from bench.atomic import write_json_atomically
from bench.cores import split_cores
from bench.paired import METHODS, Contender, Load, PairResult, measure
from bench.postgres import URL_VARIABLE, PostgresError, database_for_run
from bench.procs import free_port
from services.endpoints import ENDPOINTS_BY_PATH
from services.rows import ROWS, UnknownRowError, get_row
from services.servers.base import SettingsError
from services.settings import load_settings

DEFAULT_BASELINE = "fastapi-async"
# These call the latency service, which paired runs do not start.
UNSUPPORTED_PREFIXES = ("/downstream",)
DATABASE_PREFIX = "/db/"
KNOB_PREFIX = "BENCH_"
# Versus sets these on both sides itself: where each listens, its database.
RESERVED_KNOBS = frozenset(
    {
        "BENCH_SERVICE",
        "BENCH_HOST",
        "BENCH_PORT",
        "BENCH_METRICS_PORT",
        "BENCH_LATENCY_URL",
        "BENCH_DATABASE_URL",
    }
)


@dataclass(frozen=True)
class Entrant:
    """A row as named on the command line: ROW or ROW:BENCH_X=V,BENCH_Y=W."""

    row: str
    knobs: dict[str, str]  # BENCH_* variable -> value

    @classmethod
    def parse(cls, spec: str) -> Entrant:
        """The row and knobs of ``spec``; ValueError with a message for a bad one."""
        name, colon, rest = spec.partition(":")
        row = get_row(name.strip()).name
        knobs: dict[str, str] = {}
        for part in (p.strip() for p in rest.split(",") if p.strip()):
            variable, equals, value = part.partition("=")
            variable = variable.strip().upper()
            if not equals or not variable.startswith(KNOB_PREFIX) or not value.strip():
                raise ValueError(
                    f"{spec!r}: knobs are BENCH_NAME=value, e.g. {row}:BENCH_DB_POOL=5"
                )
            if variable in RESERVED_KNOBS:
                raise ValueError(f"{spec!r}: versus sets {variable} itself")
            knobs[variable] = value.strip()
        if colon and not knobs:
            raise ValueError(f"{spec!r}: no knobs after ':'")
        try:
            resolved = load_settings(row, knobs).environment()
        except SettingsError as error:
            raise ValueError(f"{spec!r}: {error}") from None
        for variable in knobs:
            if variable not in resolved:
                raise ValueError(f"{spec!r}: {row} does not read {variable}")
        return cls(row, knobs)

    @property
    def label(self) -> str:
        knobs = ",".join(f"{name}={value}" for name, value in self.knobs.items())
        return f"{self.row}:{knobs}" if knobs else self.row

    def contender(self, common: dict[str, str]) -> Contender:
        """The paired side: the run's common knobs, then the entrant's own over them."""
        own = {name.removeprefix(KNOB_PREFIX).lower(): value for name, value in self.knobs.items()}
        return Contender(self.row, {**common, **own})


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
    row_knobs: dict[str, str]  # BENCH_* knobs of this side beyond the defaults
    baseline_knobs: dict[str, str]

    @classmethod
    def of(cls, row: Entrant | str, baseline: Entrant | str, result: PairResult) -> Comparison:
        pairs = result.pair_efficiency_ratios()
        row, baseline = (e if isinstance(e, Entrant) else Entrant(e, {}) for e in (row, baseline))
        return cls(
            row=row.row,
            baseline=baseline.row,
            row_knobs=row.knobs,
            baseline_knobs=baseline.knobs,
            rounds=len(pairs),
            row_efficiency=result.a.median_efficiency(),
            baseline_efficiency=result.b.median_efficiency(),
            efficiency_ratio=result.efficiency_ratio,
            interval=result.efficiency_interval(),
            pair_range=(min(pairs), max(pairs)),
            throughput_ratio=result.throughput_ratio,
        )

    @property
    def label(self) -> str:
        return Entrant(self.row, self.row_knobs).label

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
        "--rows",
        nargs="+",
        metavar="ROW[:KNOBS]",
        help="rows to compare, each optionally with BENCH_* knobs (default: every other row)",
    )
    parser.add_argument("--baseline", default=DEFAULT_BASELINE, metavar="ROW[:KNOBS]")
    parser.add_argument(
        "--endpoint",
        default="/hello",
        help="path and query every request sends, e.g. /io?ms=10 or /db/query",
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


def _entrants(args: argparse.Namespace) -> tuple[Entrant, list[Entrant]]:
    """The baseline and the rows, parsed and checked (ValueError names a bad one)."""
    baseline = Entrant.parse(args.baseline)
    if args.rows:
        rows = [Entrant.parse(spec) for spec in args.rows]
    else:
        rows = [Entrant(row.name, {}) for row in ROWS if row.name != baseline.row]
    route = args.endpoint.split("?", 1)[0]
    endpoint = ENDPOINTS_BY_PATH.get(route)
    for entrant in (baseline, *rows):
        if endpoint and get_row(entrant.row).interface not in endpoint.interfaces:
            raise ValueError(f"--endpoint {route}: {entrant.row} does not serve it")
    return baseline, rows


def _argument_error(args: argparse.Namespace) -> str | None:
    if args.rounds < 1 or args.seconds <= 0 or args.vus < 1:
        return "--rounds, --seconds and --vus must be positive"
    if not args.endpoint.startswith("/"):
        return f"--endpoint {args.endpoint!r} must be a path starting with '/'"
    if args.endpoint.startswith(UNSUPPORTED_PREFIXES):
        return (
            f"--endpoint {args.endpoint}: needs the latency service, which paired runs do not start"
        )
    try:
        _entrants(args)
    except (UnknownRowError, ValueError) as error:
        return str(error)
    if args.json and not args.json.parent.is_dir():
        return f"--json {args.json}: no directory {args.json.parent}"
    return None


def _print_line(label: str, comparison: Comparison, verdict: str, width: int) -> None:
    low, high = comparison.pair_range
    print(
        f"{label:<{width}}{comparison.row_efficiency:>9.0f}{comparison.baseline_efficiency:>9.0f}"
        f"{comparison.efficiency_ratio:>8.3f}{_interval_text(comparison.interval):>14}"
        f"{low:>8.2f}-{high:<5.2f}{comparison.throughput_ratio:>7.2f}  {verdict}",
        flush=True,
    )


def run(args: argparse.Namespace) -> int:
    error = _argument_error(args)
    if error:
        print(f"bench versus: {error}")
        return 2
    baseline, rows = _entrants(args)
    load = Load(endpoint=args.endpoint, vus=args.vus, seconds=args.seconds, method=args.method)
    database = _database_source(args.endpoint)
    print(
        f"{args.endpoint}, {args.vus} VUs per side, {args.seconds:g} s x {args.rounds} rounds, "
        f"{args.method}; baseline {baseline.label}"
    )
    print(
        f"{split_cores().describe()}; default knobs (sync rows: 1 worker) unless named; "
        f"instrumentation {args.instrumentation}"
        + (f"; database: {database}, its CPU on neither side" if database else "")
        + "\n"
    )
    width = max(
        24, *(len(label) + 2 for label in [f"A/A {baseline.label}"] + [r.label for r in rows])
    )
    comparisons: list[Comparison] = []
    noise: tuple[float, float] | None = None
    control_ok = True
    with tempfile.TemporaryDirectory(prefix="bench-versus-") as tmp, ExitStack() as stack:
        workdir = Path(tmp)
        common = {"instrumentation": args.instrumentation}
        if database:
            try:
                common["database_url"] = stack.enter_context(
                    database_for_run(workdir / "postgres", free_port(), split_cores().services)
                ).url
            except (PostgresError, psycopg.Error) as failure:
                print(f"bench versus: {args.endpoint} needs PostgreSQL: {failure}")
                return 2
        print(
            f"{'row':<{width}}{'req/cpu-s':>9}{'base':>9}{'ratio':>8}{'95% interval':>14}"
            f"{'per-round':>14}{'rps x':>7}  verdict"
        )

        def compare(row: Entrant) -> Comparison:
            result = measure(
                row.contender(common),
                baseline.contender(common),
                args.rounds,
                load,
                workdir=workdir,
                testid=f"versus-{row.row}",
            )
            return Comparison.of(row, baseline, result)

        if not args.no_control:
            control = compare(baseline)
            interval = control.interval
            control_ok = interval is None or interval[0] <= 1.0 <= interval[1]
            noise = control.pair_range
            comparisons.append(control)
            verdict = "control passed" if control_ok else "CONTROL FAILED: biased here"
            _print_line(f"A/A {baseline.label}", control, verdict, width)
        for row in rows:
            comparison = compare(row)
            comparisons.append(comparison)
            _print_line(row.label, comparison, comparison.verdict(noise), width)
    if args.json:
        payload = {
            "endpoint": args.endpoint,
            "load": asdict(load),
            "rounds": args.rounds,
            "instrumentation": args.instrumentation,
            "database": database,
            "control_passed": control_ok if not args.no_control else None,
            "comparisons": [
                asdict(c) | {"label": c.label, "verdict": c.verdict(noise)} for c in comparisons
            ],
        }
        write_json_atomically(args.json, payload)
        print(f"\nwritten: {args.json}")
    return 0 if control_ok else 1


def _interval_text(interval: tuple[float, float] | None) -> str:
    return f"{interval[0]:.3f}-{interval[1]:.3f}" if interval else "-"


def _database_source(endpoint: str) -> str | None:
    """Which database the run's rows use, None for an endpoint that needs none."""
    if not endpoint.startswith(DATABASE_PREFIX):
        return None
    if os.environ.get(URL_VARIABLE, "").strip():
        return URL_VARIABLE
    return "a throwaway PostgreSQL on the services core"
