"""`bench loadgen-ceiling`: how many requests a second the load generator can send.

One row serves /hello on the services core; closed-loop load comes from
  * one k6 instance on the load core,
  * two k6 instances on every core (execution segments, as `bench loadtest
    --instances 2`): they then share a core with the row,
  * wrk (Debian's package, where it is installed) on the load core: the raw
    ceiling of an HTTP client written in C, for comparison.

Each run prints what it served and what it cost the generator: requests per
CPU-second of the generator's own processes. Where the row's core is full the
row, not the generator, set the rate; the cost per request still says what
the generator could drive on a core of its own (its ceiling per core).
"""

from __future__ import annotations

import argparse
import re
import resource
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.cores import on_cores, share_cores, split_cores
from bench.loadtest.runner import K6Run
from bench.loadtest.split import run_split
from bench.paths import LOADTESTS_DIR
from bench.procs import RunningRow, running_row, tree_cpu_seconds
from services.rows import ROWS, get_row

SCRIPT = LOADTESTS_DIR / "throughput.js"
ENDPOINT = "/hello"
WRK_RATE = re.compile(r"^Requests/sec:\s+([0-9.]+)", re.MULTILINE)
WRK_SENT = re.compile(r"^\s*([0-9]+) requests in ", re.MULTILINE)
WRK_MARGIN_S = 30


@dataclass(frozen=True)
class Measured:
    """One generator's run against the row."""

    generator: str
    cores: str
    requests_per_second: float  # over the measured seconds
    generator_cores: float  # CPU-seconds of the generator per second of the run
    requests_per_generator_cpu_second: float  # every request it sent / its CPU time
    row_cores: float  # CPU-seconds of the row's processes per second of the run


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    parser = subparsers.add_parser(
        "loadgen-ceiling",
        help="what one and two k6 instances (and wrk) can drive against the fastest row",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--row", default="fastapi-granian", choices=[r.name for r in ROWS], metavar="ROW"
    )
    parser.add_argument("--vus", type=int, default=32, help="closed-loop users (wrk: connections)")
    parser.add_argument("--seconds", type=float, default=5.0, help="measured seconds per run")
    parser.add_argument("--workers", type=int, default=1, help="the row's worker processes")
    parser.add_argument(
        "--no-wrk", action="store_true", help="k6 only, even where wrk is installed"
    )
    parser.set_defaults(handler=run)


def _children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class _Meter:
    """CPU of the generator (children this process waits for) and of the row, over a block."""

    def __init__(self, server: RunningRow) -> None:
        self.server = server
        self.generator_seconds = 0.0
        self.generator_cores = 0.0
        self.row_cores = 0.0

    def __enter__(self) -> _Meter:
        self._generator = _children_cpu_seconds()
        self._row = tree_cpu_seconds(self.server.process.pid)
        self._started = time.monotonic()
        return self

    def __exit__(self, *exc: object) -> None:
        elapsed = max(time.monotonic() - self._started, 1e-9)
        self.generator_seconds = _children_cpu_seconds() - self._generator
        self.generator_cores = self.generator_seconds / elapsed
        self.row_cores = (tree_cpu_seconds(self.server.process.pid) - self._row) / elapsed


def _k6(
    server: RunningRow,
    instances: int,
    cores: frozenset[int] | None,
    args: argparse.Namespace,
    workdir: Path,
) -> Measured:
    run = K6Run(
        script=SCRIPT,
        env={
            "BASE_URL": server.base_url,
            "SERVICE": server.name,
            "ENDPOINT": ENDPOINT,
            "VUS": str(args.vus),
            "MEASURE_SECONDS": str(args.seconds),
        },
        run_dir=workdir / f"k6-{instances}",
        testid=f"loadgen-ceiling-{instances}",
        cpus=cores,
    )
    shares = share_cores(cores, instances) if cores and instances > 1 else None
    with _Meter(server) as meter:
        result = run_split(
            run, instances, timeout_s=args.seconds + 60, title="loadgen ceiling", cpus=shares
        )
    metrics = result.summary.get("metrics", {})
    measured = metrics.get("http_reqs{scenario:measure}", {}).get("values", {}).get("count")
    if result.exit_code != 0 or not measured:
        raise RuntimeError(f"k6 exited {result.exit_code}:\n{result.stdout_summary()[-2000:]}")
    # k6's CPU covers the whole run, its warm-up second and start included.
    everything = float(metrics["http_reqs"]["values"]["count"])
    return Measured(
        f"k6 x{instances}",
        _describe(cores),
        float(measured) / args.seconds,
        meter.generator_cores,
        everything / max(meter.generator_seconds, 1e-9),
        meter.row_cores,
    )


def _wrk(server: RunningRow, cores: frozenset[int] | None, args: argparse.Namespace) -> Measured:
    wrk = shutil.which("wrk")
    if wrk is None:
        raise FileNotFoundError("wrk")
    command = [wrk, "-t1", f"-c{args.vus}", f"-d{args.seconds:g}s", f"{server.base_url}{ENDPOINT}"]
    with on_cores(cores):
        # A short warm-up, as k6's scenario has, not counted.
        warm_up = [wrk, "-t1", f"-c{args.vus}", "-d1s", f"{server.base_url}{ENDPOINT}"]
        subprocess.run(warm_up, capture_output=True, check=True, timeout=WRK_MARGIN_S)
        with _Meter(server) as meter:
            done = subprocess.run(
                command, capture_output=True, text=True, check=True,
                timeout=args.seconds + WRK_MARGIN_S,
            )  # fmt: skip
    rate, sent = WRK_RATE.search(done.stdout), WRK_SENT.search(done.stdout)
    if rate is None or sent is None:
        raise RuntimeError(f"wrk printed no request count:\n{done.stdout}")
    return Measured(
        "wrk",
        _describe(cores),
        float(rate.group(1)),
        meter.generator_cores,
        float(sent.group(1)) / max(meter.generator_seconds, 1e-9),
        meter.row_cores,
    )


def _describe(cores: frozenset[int] | None) -> str:
    return "any" if cores is None else ",".join(str(c) for c in sorted(cores))


def measurements(args: argparse.Namespace, workdir: Path) -> Iterator[Measured]:
    cores = split_cores()
    every = None if cores.services is None or cores.load is None else cores.services | cores.load
    with running_row(args.row, workdir, cpus=cores.services, workers=args.workers) as server:
        yield _k6(server, 1, cores.load, args, workdir)
        yield _k6(server, 2, every, args, workdir)
        if not args.no_wrk and shutil.which("wrk"):
            yield _wrk(server, cores.load, args)


def run(args: argparse.Namespace) -> int:
    if args.vus < 1 or args.seconds <= 0 or args.workers < 1:
        print("bench loadgen-ceiling: --vus, --seconds and --workers must be positive")
        return 2
    row = get_row(args.row)
    print(
        f"{ENDPOINT} on {row.name} ({args.workers} worker(s)), {split_cores().describe()}; "
        f"{args.vus} closed-loop users (wrk: connections), {args.seconds:g} s measured"
    )
    if not args.no_wrk and not shutil.which("wrk"):
        print("wrk is not installed (Debian: apt-get install wrk): k6 only")
    print(
        "| generator | its cores | requests/s | generator cores busy "
        "| requests per generator CPU-second | row cores busy |\n|---|---|---:|---:|---:|---:|"
    )
    with tempfile.TemporaryDirectory(prefix="bench-loadgen-") as tmp:
        for measured in measurements(args, Path(tmp)):
            print(
                f"| {measured.generator} | {measured.cores} | {measured.requests_per_second:.0f} "
                f"| {measured.generator_cores:.2f} "
                f"| {measured.requests_per_generator_cpu_second:.0f} | {measured.row_cores:.2f} |",
                flush=True,
            )
    return 0
