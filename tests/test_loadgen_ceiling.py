"""`bench loadgen-ceiling` runs end to end: k6 alone, two k6 instances, and wrk
(its figures are a benchmark, docs/performance.md, not asserted here)."""

from __future__ import annotations

import subprocess
import sys

import pytest


def loadgen_ceiling(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bench", "loadgen-ceiling", *args],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


@pytest.mark.live
def test_every_generator_gets_a_line_with_its_cost() -> None:
    # CI installs Debian's wrk (.ci/run): without it this run would print k6 only.
    result = loadgen_ceiling("--row", "fastapi-async", "--seconds", "1", "--vus", "4")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = [
        line
        for line in result.stdout.splitlines()
        if line.startswith("| k6") or line.startswith("| wrk")
    ]
    assert [line.split("|")[1].strip() for line in lines] == ["k6 x1", "k6 x2", "wrk"]
    for line in lines:
        cells = [cell.strip() for cell in line.split("|")[1:-1]]
        rate, generator_cores, per_cpu_second, row_cores = map(float, cells[2:])
        assert rate > 0
        assert 0 < generator_cores < 3
        assert per_cpu_second > 0
        assert 0 < row_cores < 3


@pytest.mark.parametrize(
    ("args", "message"),
    [(["--seconds", "0"], "must be positive"), (["--vus", "-1"], "must be positive")],
)
def test_bad_arguments(args: list[str], message: str) -> None:
    result = loadgen_ceiling(*args)
    assert result.returncode == 2
    assert message in result.stdout
    assert "Traceback" not in result.stderr
