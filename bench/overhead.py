"""`bench overhead`: what the instrumentation costs, per row, on /hello.

Each round starts the row twice, instrumented and bare, and measures the two
in paired rounds (bench.paired: fresh processes on one core, k6 on the
other, simultaneous or alternating slices).

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
import tempfile
from pathlib import Path
from typing import Any

from bench.cores import split_cores
from bench.overhead_peers import run_peers
from bench.paired import METHODS, Contender, Load, PairResult, measure
from services.endpoints import ENDPOINTS_BY_PATH
from services.rows import ROWS, get_row
from services.workload import BadRequest, parse_params

TARGET_RATIO = 0.95
# --peers: the worst case (a request that does nothing) and a realistic one.
PEER_ENDPOINTS = ("/hello", "/io?ms=10")
NEEDS_A_DEPENDENCY = ("/downstream", "/db")  # the latency service, PostgreSQL
INSTRUMENTED = {"instrumentation": "on"}
BARE = {"instrumentation": "off"}


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
        choices=METHODS,
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
    parser.add_argument(
        "--peers",
        action="store_true",
        help=(
            "ours and every metrics library of the row's framework (services/peers), each "
            "against the bare app, rounds interleaved, with an A/A control per row"
        ),
    )
    parser.add_argument(
        "--endpoints",
        nargs="+",
        default=None,
        metavar="PATH",
        help="endpoints measured with --peers (default: /hello /io?ms=10)",
    )
    parser.set_defaults(handler=run)


def measure_row(row: str, args: argparse.Namespace, workdir: Path) -> PairResult:
    """Instrumented (side a) against bare (side b); both bare under --control."""
    on = Contender(row, BARE if args.control else INSTRUMENTED)
    load = Load(endpoint="/hello", vus=args.vus, seconds=args.seconds, method=args.method)
    return measure(
        on, Contender(row, BARE), args.rounds, load, workdir=workdir, testid=f"overhead-{row}"
    )


def validate_target(target: str) -> None:
    """ValueError naming the problem unless ``target`` is an endpoint paired runs can load:
    a known path with valid parameters, needing neither the latency service nor a database."""
    path, _, query = target.partition("?")
    endpoint = ENDPOINTS_BY_PATH.get(path)
    if endpoint is None:
        raise ValueError(f"--endpoints {target!r}: no such endpoint (docs/endpoints.md)")
    if path.startswith(NEEDS_A_DEPENDENCY):
        raise ValueError(f"--endpoints {target}: needs a dependency paired runs do not start")
    try:
        parse_params(endpoint, query)
    except BadRequest as error:
        raise ValueError(f"--endpoints {target!r}: {error.message}") from None


def _argument_error(args: argparse.Namespace) -> str | None:
    """What is wrong with the command line, if anything; fills in --peers' endpoints."""
    if args.rounds < 1 or args.seconds <= 0 or args.vus < 1:
        return "--rounds, --seconds and --vus must be positive"
    if args.endpoints is not None and not args.peers:
        return "--endpoints goes with --peers (without it: /hello)"
    if args.peers and args.control:
        return "--peers runs its own A/A control on every row; drop --control"
    args.endpoints = args.endpoints or list(PEER_ENDPOINTS if args.peers else ["/hello"])
    try:
        for name in args.rows:
            get_row(name)
        for endpoint in args.endpoints:
            validate_target(endpoint)
    except ValueError as error:
        return str(error)
    return None


def run(args: argparse.Namespace) -> int:
    error = _argument_error(args)
    if error is not None:
        print(f"bench overhead: {error}")
        return 2
    rows = [get_row(name).name for name in args.rows]
    endpoints = ", ".join(args.endpoints)
    print(f"{endpoints}, {args.vus} VUs, {args.seconds:g} s x {args.rounds} slices per side")
    print(f"{split_cores().describe()}; default knobs (sync rows: 1 worker)")
    if args.peers:
        with tempfile.TemporaryDirectory(prefix="bench-overhead-") as tmp:
            return run_peers(args, rows, Path(tmp))
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
                f"{row:<18}{result.a.median_rps():>8.0f}{result.b.median_rps():>9.0f}"
                f"{result.throughput_ratio:>7.3f}{result.a.median_efficiency():>14.0f}"
                f"{result.b.median_efficiency():>7.0f}{result.efficiency_ratio:>7.3f}"
                f"{min(pairs):>9.2f}-{max(pairs):.2f}  {verdict}",
                flush=True,
            )
    return 1 if failures else 0
