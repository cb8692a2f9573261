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
    result = bench_middleware_cost("--requests", "200", "--blocks", "2")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[1].split() == ["app", "bare", "wrapped", "added"]
    for line in lines[2:4]:
        name, figures = line[:20].strip(), [float(field) for field in line[20:].split()]
        bare, wrapped, added = figures
        assert name in {"trivial ASGI app", "FastAPI /hello"}
        assert bare > 0
        assert wrapped > 0
        assert abs(added - (wrapped - bare)) <= 0.011  # rounding
    recorder = dict(line.split(": ") for line in lines[4:])
    assert float(recorder["recorder, noting a request in and out"]) > 0
    assert float(recorder["recorder, its flusher's work per request"]) > 0


def test_bad_arguments() -> None:
    result = bench_middleware_cost("--requests", "0")
    assert result.returncode == 2
    assert "must be positive" in result.stdout
    assert "Traceback" not in result.stderr
