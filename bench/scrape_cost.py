"""`bench scrape-cost`: what one Prometheus scrape costs a row, in CPU on its own core.

Each row runs alone, idle, pinned to the service cores. Its process tree's
CPU is measured over a window with no scrapes, then over a window with
GET /metrics every --interval seconds (as the benchmark's Prometheus
does); the difference per scrape is the cost of a scrape.
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench.cores import split_cores
from bench.procs import RunningRow, running_row, tree_cpu_seconds
from services.rows import ROWS, get_row

SETTLE_S = 2.0  # after start-up, before the idle window


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    parser = subparsers.add_parser(
        "scrape-cost",
        help="measure the CPU one /metrics scrape costs an idle row",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--rows", nargs="+", default=[r.name for r in ROWS], metavar="ROW")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each window")
    parser.add_argument("--interval", type=float, default=0.5, help="seconds between scrapes")
    parser.set_defaults(handler=run)


def _cores_over(server: RunningRow, seconds: float, scrape_every_s: float | None) -> float:
    """The row's CPU (cores) over ``seconds``, scraping it every ``scrape_every_s`` if given."""
    pid = server.process.pid
    before, started = tree_cpu_seconds(pid), time.monotonic()
    if scrape_every_s is None:
        time.sleep(seconds)
    else:
        with httpx.Client(timeout=5.0) as client:
            for index in range(math.floor(seconds / scrape_every_s)):
                client.get(server.metrics_url).raise_for_status()
                time.sleep(max(0.0, started + (index + 1) * scrape_every_s - time.monotonic()))
    return (tree_cpu_seconds(pid) - before) / (time.monotonic() - started)


def run(args: argparse.Namespace) -> int:
    if args.seconds <= 0 or args.interval <= 0 or args.interval > args.seconds:
        print("bench scrape-cost: --seconds and --interval must be positive, interval <= seconds")
        return 2
    try:
        rows = [get_row(name).name for name in args.rows]
    except ValueError as error:
        print(f"bench scrape-cost: {error}")
        return 2
    print(f"idle rows, {args.seconds:g} s per window, a scrape every {args.interval:g} s")
    print(f"{'row':<18}{'idle cores':>11}{'scraped cores':>15}{'ms CPU per scrape':>19}")
    with tempfile.TemporaryDirectory(prefix="scrape-cost-") as workdir:
        for row in rows:
            with running_row(row, Path(workdir), cpus=split_cores().services) as server:
                time.sleep(SETTLE_S)
                idle = _cores_over(server, args.seconds, None)
                scraped = _cores_over(server, args.seconds, args.interval)
            per_scrape_ms = (scraped - idle) * args.interval * 1000.0
            print(f"{row:<18}{idle:>11.4f}{scraped:>15.4f}{per_scrape_ms:>19.1f}", flush=True)
    return 0
