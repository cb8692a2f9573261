"""`bench scrape-cost` runs end to end (its figures are a benchmark, not asserted here)."""

from __future__ import annotations

import subprocess
import sys

import pytest


def bench_scrape_cost(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bench", "scrape-cost", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.live
def test_one_row_prints_idle_and_scraped_cpu() -> None:
    result = bench_scrape_cost("--rows", "flask-sync", "--seconds", "1", "--interval", "0.25")
    assert result.returncode == 0, result.stdout + result.stderr
    [line] = [line for line in result.stdout.splitlines() if line.startswith("flask-sync")]
    idle, scraped, per_scrape_ms = (float(field) for field in line.split()[1:])
    assert 0 <= idle < 1
    assert 0 <= scraped < 1
    assert per_scrape_ms == pytest.approx((scraped - idle) * 0.25 * 1000, abs=0.1)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--interval", "0"], "must be positive"),
        (["--seconds", "1", "--interval", "2"], "interval <= seconds"),
        (["--rows", "flask-async"], "unknown row 'flask-async'"),
    ],
)
def test_bad_arguments(args: list[str], message: str) -> None:
    result = bench_scrape_cost(*args)
    assert result.returncode == 2
    assert message in result.stdout
    assert "Traceback" not in result.stderr
