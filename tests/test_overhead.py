"""`bench overhead` runs end to end (its figures are a benchmark, not asserted here)."""

from __future__ import annotations

import subprocess
import sys

import pytest


def bench_overhead(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bench", "overhead", *args],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


@pytest.mark.live
@pytest.mark.parametrize("method", ["simultaneous", "alternating"])
def test_one_row_one_round_prints_both_ratios(method: str) -> None:
    result = bench_overhead(
        "--rows", "fastapi-async", "--rounds", "1", "--seconds", "1", "--method", method
    )
    assert result.returncode in {0, 1}, result.stdout + result.stderr  # 1: below target
    [line] = [line for line in result.stdout.splitlines() if line.startswith("fastapi-async")]
    fields = line.split()
    rps_on, rps_off, throughput_ratio = float(fields[1]), float(fields[2]), float(fields[3])
    assert rps_on > 0
    assert rps_off > 0
    assert throughput_ratio == pytest.approx(rps_on / rps_off, abs=0.01)
    assert 0 < float(fields[6]) < 10  # efficiency ratio


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--rounds", "0"], "must be positive"),
        (["--rows", "flask-async"], "unknown row 'flask-async'"),
    ],
)
def test_bad_arguments(args: list[str], message: str) -> None:
    result = bench_overhead(*args)
    assert result.returncode == 2
    assert message in result.stdout
    assert "Traceback" not in result.stderr


@pytest.mark.live
def test_peers_tiny_run_prints_every_contender_against_bare() -> None:
    result = bench_overhead(
        "--peers", "--rows", "flask-sync", "--rounds", "2", "--seconds", "1",
        "--endpoints", "/hello",
    )  # fmt: skip
    assert result.returncode in {0, 1}, result.stdout + result.stderr  # 1: a target missed
    lines = [line for line in result.stdout.splitlines() if line.startswith("| flask-sync")]
    names = [line.split("|")[3].strip() for line in lines]
    assert names == ["ours", "flask-exporter", "opentelemetry", "A/A control (bare vs bare)"]
    for line in lines:
        ratio, added = float(line.split("|")[4]), float(line.split("|")[6])
        assert 0 < ratio < 10
        assert -1e6 < added < 1e6
    [verdict] = [
        line for line in result.stdout.splitlines() if line.startswith("flask-sync /hello")
    ]
    assert "of bare" in verdict
    assert "A/A control off by" in verdict


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--peers", "--control"], "its own A/A control"),
        (["--endpoints", "/hello"], "--endpoints goes with --peers"),
        (["--peers", "--endpoints", "/nowhere"], "no such endpoint"),
        (["--peers", "--endpoints", "/downstream"], "needs a dependency"),
        (["--peers", "--endpoints", "/io?ms=-5"], "between 0 and 60000"),
    ],
)
def test_bad_peer_arguments(args: list[str], message: str) -> None:
    result = bench_overhead(*args)
    assert result.returncode == 2
    assert message in result.stdout
    assert "Traceback" not in result.stderr
