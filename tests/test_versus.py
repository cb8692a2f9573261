"""`bench versus`: runs end to end, and its verdict only ranks what clears the noise."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from bench.paired import PairResult, Side, Slice
from bench.procs import running_row
from bench.versus import Comparison, Entrant


def bench_versus(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bench", "versus", *args],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


def pair(ratios: list[float]) -> PairResult:
    """Rounds whose a/b efficiency ratios are ``ratios`` (b fixed at 1000 req/CPU-s)."""
    a = Side([Slice(100.0 * r, 1000.0 * r) for r in ratios])
    b = Side([Slice(100.0, 1000.0) for _ in ratios])
    return PairResult(a, b)


def test_interval_brackets_the_paired_ratios() -> None:
    result = pair([0.9, 0.92, 0.88, 0.91, 0.89])
    assert result.efficiency_ratio == pytest.approx(0.9)
    low, high = result.efficiency_interval() or (0.0, 0.0)
    assert 0.88 < low < 0.9 < high < 0.92
    assert pair([0.9]).efficiency_interval() is None


@pytest.mark.parametrize(
    ("ratios", "noise", "verdict"),
    [
        ([0.9, 0.92, 0.88, 0.91, 0.89], (0.98, 1.02), "slower, 0.90x"),
        ([1.2, 1.22, 1.18, 1.21, 1.19], (0.98, 1.02), "faster, 1.20x"),
        # Clears 1 but not the A/A control's own per-round range: not ranked.
        ([1.01, 1.012, 1.011, 1.009, 1.01], (0.97, 1.03), "within noise"),
        ([0.8, 1.2, 0.9, 1.1, 1.0], None, "within noise"),
    ],
)
def test_verdict_needs_the_interval_outside_the_noise(
    ratios: list[float], noise: tuple[float, float] | None, verdict: str
) -> None:
    comparison = Comparison.of("row", "base", pair(ratios))
    assert comparison.verdict(noise) == verdict


@pytest.mark.live
def test_control_and_row_printed_and_written(tmp_path: Path) -> None:
    output = tmp_path / "versus.json"
    result = bench_versus(
        "--rows", "flask-sync", "--rounds", "2", "--seconds", "1", "--json", str(output)
    )
    assert result.returncode in {0, 1}, result.stdout + result.stderr  # 1: control failed
    lines = result.stdout.splitlines()
    assert any(line.startswith("A/A fastapi-async") for line in lines), result.stdout
    [row_line] = [line for line in lines if line.startswith("flask-sync")]
    written = json.loads(output.read_text())
    control, row = written["comparisons"]
    assert (control["row"], control["baseline"]) == ("fastapi-async", "fastapi-async")
    assert row["row"] == "flask-sync"
    assert row["rounds"] == 2
    assert row["row_efficiency"] > 0
    assert row["baseline_efficiency"] > 0
    low, high = row["pair_range"]
    assert low <= row["efficiency_ratio"] <= high
    assert f"{row['efficiency_ratio']:.3f}" in row_line
    assert row["verdict"] in row_line


@pytest.mark.live
def test_both_sides_can_run_the_bare_app(tmp_path: Path) -> None:
    output = tmp_path / "versus.json"
    result = bench_versus(
        "--rows", "flask-granian", "--instrumentation", "off", "--no-control",
        "--rounds", "1", "--seconds", "1", "--json", str(output),
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "instrumentation off" in result.stdout
    written = json.loads(output.read_text())
    assert written["instrumentation"] == "off"
    [row] = written["comparisons"]
    assert row["row"] == "flask-granian"
    assert row["row_efficiency"] > 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--rounds", "0"], "must be positive"),
        (["--rows", "flask-async"], "unknown row 'flask-async'"),
        (["--baseline", "nope"], "unknown row 'nope'"),
        (["--endpoint", "hello"], "must be a path"),
        (["--endpoint", "/downstream?ms=5"], "needs the latency service"),
        (["--rows", "flask-sync:BENCH_DB_DRIVER=asyncpg"], "flask-sync does not read BENCH_DB"),
        (["--rows", "fastapi-async:BENCH_THREADS=4"], "fastapi-async does not read BENCH_THREADS"),
        (["--baseline", "fastapi-async:BENCH_DB_DRIVER=pg8000"], "must be 'asyncpg' or 'psycopg'"),
        (["--rows", "flask-sync:BENCH_DB_POOL=0"], "BENCH_DB_POOL=0 must be at least 1"),
        (["--rows", "flask-sync:BENCH_PORT=9000"], "versus sets BENCH_PORT itself"),
        (["--rows", "flask-sync:DB_POOL=3"], "knobs are BENCH_NAME=value"),
        (["--rows", "flask-sync:"], "no knobs after ':'"),
        (["--rows", "flask-sync", "--endpoint", "/db/thread/query"], "flask-sync does not serve"),
        (["--json", "/no/such/dir/x.json"], "no directory /no/such/dir"),
    ],
)
def test_bad_arguments(args: list[str], message: str) -> None:
    result = bench_versus(*args)
    assert result.returncode == 2
    assert message in result.stdout
    assert "Traceback" not in result.stderr


def test_a_contender_is_a_row_and_its_own_knobs_over_the_common_ones() -> None:
    entrant = Entrant.parse("fastapi-async:BENCH_DB_DRIVER=psycopg, bench_db_pool=4")
    assert entrant == Entrant("fastapi-async", {"BENCH_DB_DRIVER": "psycopg", "BENCH_DB_POOL": "4"})
    assert entrant.label == "fastapi-async:BENCH_DB_DRIVER=psycopg,BENCH_DB_POOL=4"
    contender = entrant.contender({"instrumentation": "off", "db_pool": "10"})
    assert contender.row == "fastapi-async"
    assert contender.knobs == {"instrumentation": "off", "db_pool": "4", "db_driver": "psycopg"}
    assert Entrant.parse("flask-sync") == Entrant("flask-sync", {})


@pytest.mark.live
@pytest.mark.parametrize(
    ("driver", "answered"), [("asyncpg", "asyncpg"), ("psycopg", "psycopg-async")]
)
def test_a_contenders_knobs_reach_its_server(
    driver: str, answered: str, database_url: str, tmp_path: Path
) -> None:
    contender = Entrant.parse(f"fastapi-async:BENCH_DB_DRIVER={driver}").contender(
        {"database_url": database_url}
    )
    with running_row(contender.row, tmp_path, extra_knobs=contender.knobs) as server:
        response = httpx.get(f"{server.base_url}/db/query", timeout=15)
    assert response.status_code == 200, response.text
    assert response.json()["driver"] == answered


@pytest.mark.live
def test_two_drivers_on_one_row_against_its_own_postgres(tmp_path: Path) -> None:
    """asyncpg against psycopg's async pool on fastapi-async, with the A/A control.

    k6 fails a run with more than 1% errors, so both sides answered /db/query
    from the PostgreSQL versus started for the run.
    """
    output = tmp_path / "versus.json"
    result = bench_versus(
        "--baseline", "fastapi-async:BENCH_DB_DRIVER=psycopg",
        "--rows", "fastapi-async:BENCH_DB_DRIVER=asyncpg",
        "--endpoint", "/db/query",
        "--rounds", "2", "--seconds", "1", "--vus", "2", "--json", str(output),
    )  # fmt: skip
    assert result.returncode in {0, 1}, result.stdout + result.stderr  # 1: control failed
    assert "database: a throwaway PostgreSQL on the services core" in result.stdout
    lines = result.stdout.splitlines()
    assert any(line.startswith("A/A fastapi-async:BENCH_DB_DRIVER=psycopg") for line in lines)
    assert any(line.startswith("fastapi-async:BENCH_DB_DRIVER=asyncpg ") for line in lines)
    written = json.loads(output.read_text())
    assert written["endpoint"] == "/db/query"
    control, row = written["comparisons"]
    assert control["row_knobs"] == control["baseline_knobs"] == {"BENCH_DB_DRIVER": "psycopg"}
    assert (row["row_knobs"], row["baseline_knobs"]) == (
        {"BENCH_DB_DRIVER": "asyncpg"},
        {"BENCH_DB_DRIVER": "psycopg"},
    )
    assert row["label"] == "fastapi-async:BENCH_DB_DRIVER=asyncpg"
    assert row["rounds"] == 2
    assert row["row_efficiency"] > 0
    assert row["baseline_efficiency"] > 0
