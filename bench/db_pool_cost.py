"""`bench db-pool-cost`: what the pool metrics add to each database checkout, in-process.

Two ways to count one checkout (waiting +1, waiting -1 and in use +1 with
the wait observed, in use -1 when the connection goes back), timed in a
child process in prometheus-client's multiprocess mode, as every row runs
(sab-serve always sets PROMETHEUS_MULTIPROC_DIR):
  * direct: the metric writes on the request's path, six locked writes
    into mmap'd files (the histogram's sum and bucket are two);
  * noted: what services/database/accounting.py does instead, three deque
    appends; the flusher thread applies them every 100 ms, off the
    request's path, and its work per checkout is timed apart.
Both include the two perf_counter calls that time the wait. Medians of
--blocks blocks, the two ways alternating, in microseconds of wall time
per checkout. No database and no server: the driver's and the pool's own
work are not in it.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

CHILD_TIMEOUT_S = 300


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    parser = subparsers.add_parser(
        "db-pool-cost",
        help="time the database pool metrics per checkout in-process: direct writes vs noted",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--checkouts", type=int, default=3_000, help="checkouts per block")
    parser.add_argument("--blocks", type=int, default=20, help="blocks per way; medians count")
    parser.set_defaults(handler=run)


def _direct_us(checkouts: int) -> float:
    """One block of checkouts counted by writing the metrics at once."""
    from services.instrumentation.metrics import db_pool_metrics  # noqa: PLC0415 - in the child

    _, in_use, waiting, wait = db_pool_metrics()
    perf_counter = time.perf_counter
    started = perf_counter()
    for _ in range(checkouts):
        asked = perf_counter()
        waiting.inc()
        waiting.dec()
        in_use.inc()
        wait.observe(perf_counter() - asked)
        in_use.dec()
    return (perf_counter() - started) / checkouts * 1e6


def _noted_us(checkouts: int) -> tuple[float, float]:
    """One block counted as the rows count it, then the flush of all of it, per checkout."""
    from services.database import accounting  # noqa: PLC0415 - in the child

    pool = accounting.PoolAccounting(enabled=True)
    perf_counter = time.perf_counter
    started = perf_counter()
    for _ in range(checkouts):
        since = pool.asking()
        pool.got(since)
        pool.returned()
    noted = perf_counter()
    accounting.flush()
    flushed = perf_counter()
    return (noted - started) / checkouts * 1e6, (flushed - noted) / checkouts * 1e6


def measure_here(checkouts: int, blocks: int) -> dict[str, float]:
    """The medians, in this process (whose metrics mode its environment chose)."""
    times: dict[str, list[float]] = {"direct": [], "noted": [], "flush": []}
    for block in range(blocks):
        ways = ["direct", "noted"] if block % 2 == 0 else ["noted", "direct"]
        for way in ways:
            if way == "direct":
                times["direct"].append(_direct_us(checkouts))
            else:
                noted, flush = _noted_us(checkouts)
                times["noted"].append(noted)
                times["flush"].append(flush)
    return {way: statistics.median(values) for way, values in times.items()}


def run(args: argparse.Namespace) -> int:
    if args.checkouts < 1 or args.blocks < 1:
        print("bench db-pool-cost: --checkouts and --blocks must be positive")
        return 2
    with tempfile.TemporaryDirectory(prefix="bench-db-pool-cost-") as metrics_dir:
        child = subprocess.run(
            [sys.executable, "-m", "bench.db_pool_cost", str(args.checkouts), str(args.blocks)],
            env={**os.environ, "PROMETHEUS_MULTIPROC_DIR": metrics_dir},
            capture_output=True,
            text=True,
            timeout=CHILD_TIMEOUT_S,
            check=False,
        )
        # The metrics files are the proof that the writes went where a row's go.
        multiprocess = any(Path(metrics_dir).glob("*.db"))
    if child.returncode != 0:
        print(f"bench db-pool-cost: the timing process failed:\n{child.stderr[-2000:]}")
        return 1
    if not multiprocess:
        print("bench db-pool-cost: the timing process wrote no multiprocess metrics files")
        return 1
    figures = json.loads(child.stdout)
    print(
        f"Per database checkout (microseconds), median of {args.blocks} blocks x "
        f"{args.checkouts:,} checkouts, prometheus-client multiprocess mode"
    )
    print(f"direct metric writes (6 locked writes): {figures['direct']:.2f}")
    print(f"noted for the flusher (3 deque appends): {figures['noted']:.2f}")
    print(f"the flusher's work per checkout, off the request's path: {figures['flush']:.2f}")
    return 0


if __name__ == "__main__":
    print(json.dumps(measure_here(int(sys.argv[1]), int(sys.argv[2]))))
