"""`bench db-pool-cost` runs end to end (its figures are a benchmark, not asserted here)."""

from __future__ import annotations

import subprocess
import sys


def bench_db_pool_cost(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bench", "db-pool-cost", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_it_prints_both_ways_and_the_flush() -> None:
    result = bench_db_pool_cost("--checkouts", "200", "--blocks", "2")
    assert result.returncode == 0, result.stdout + result.stderr
    header, *lines = result.stdout.splitlines()
    assert "median of 2 blocks x 200 checkouts" in header
    assert "multiprocess mode" in header
    figures = dict(line.rsplit(": ", 1) for line in lines)
    assert set(figures) == {
        "direct metric writes (6 locked writes)",
        "noted for the flusher (3 deque appends)",
        "the flusher's work per checkout, off the request's path",
    }
    assert all(float(value) > 0 for value in figures.values())


def test_bad_arguments() -> None:
    result = bench_db_pool_cost("--blocks", "0")
    assert result.returncode == 2
    assert "must be positive" in result.stdout
    assert "Traceback" not in result.stderr
