"""`bench middleware-cost` runs end to end (its figures are a benchmark, not asserted here)."""

from __future__ import annotations

import subprocess
import sys


def bench_middleware_cost(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bench", "middleware-cost", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_it_prints_every_figure_and_they_add_up() -> None:
    result = bench_middleware_cost("--requests", "2000", "--repeats", "2")
    assert result.returncode == 0, result.stdout + result.stderr
    figures = {
        line.rsplit(maxsplit=1)[0].strip(): float(line.rsplit(maxsplit=1)[1])
        for line in result.stdout.splitlines()[1:]
    }
    bare = figures["trivial ASGI app, bare"]
    wrapped = figures["the same in ASGIMetricsMiddleware"]
    assert abs(figures["added by the middleware"] - (wrapped - bare)) <= 0.011  # rounding
    assert figures["of which begin + end (recording)"] > 0
    assert figures["flusher's work, per request"] > 0


def test_bad_arguments() -> None:
    result = bench_middleware_cost("--requests", "0")
    assert result.returncode == 2
    assert "must be positive" in result.stdout
    assert "Traceback" not in result.stderr
