"""A real, tiny matrix: two rows and an A/A control, /io, two offered rates, two rounds.

It runs `bench matrix` exactly as `make bench` does (native stack: Prometheus,
the rows under gunicorn and uvicorn, k6, the speed probe), only smaller.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from bench.matrix.markdown import fmt_estimate, fmt_ms
from bench.matrix.stats import Estimate
from tests.lockfile import RUNTIME_LOCK, locked_versions

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
# flask-sync (1 worker, 100 ms) saturates at 10 rps, fastapi-async does not. Steps of
# 3 s hold enough requests (24 at 8 rps) that counting them is good to a few percent.
RATES = (8.0, 25.0)
STEP_SECONDS = "3"
ROUNDS = 2
ENTRIES = ("flask-sync", "fastapi-async", "flask-sync-control")


def bench(results: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bench", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env={**os.environ, "BENCH_RESULTS_DIR": str(results)},
    )


def tiny_matrix(results: Path, run_id: str, seed: int, *extra: str) -> Path:
    rates = ",".join(f"{rate:g}" for rate in RATES)
    done = bench(
        results,
        "matrix",
        "--rows", "flask-sync", "fastapi-async",
        "--workloads", "io",
        "--rates", rates,
        "--step-seconds", STEP_SECONDS,
        "--repeats", str(ROUNDS),
        "--seed", str(seed),
        "--run-id", run_id,
        *extra,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    return results / run_id


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("results")


@pytest.fixture(scope="module")
def tiny_run(results: Path) -> Path:
    return tiny_matrix(results, "tiny", 1, "--control", "flask-sync")


def figures(run_dir: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((run_dir / "results.json").read_text())
    return data["figures"]


def combo(run_dir: Path, row: str) -> dict[str, Any]:
    [found] = [c for c in figures(run_dir)["combos"] if c["row"] == row]
    return found


def level(found: dict[str, Any], rate: float) -> dict[str, Any]:
    [at] = [lv for lv in found["levels"] if lv["offered_rps"] == rate]
    return at


@pytest.mark.live
def test_the_run_writes_results_report_and_charts(tiny_run: Path) -> None:
    data = json.loads((tiny_run / "results.json").read_text())
    assert data["run"]["complete"] is True
    steps = data["steps"]
    # Round 1 probes every entry; every round runs every rate, on every entry.
    assert [s["kind"] for s in steps].count("probe") == len(ENTRIES)
    assert len(steps) == len(ENTRIES) * (1 + ROUNDS * len(RATES))
    assert {s["row"] for s in steps} == set(ENTRIES)
    assert sorted({s["repeat"] for s in steps}) == list(range(1, ROUNDS + 1))
    # Each round visits every entry once, and the rounds interleave: A B C, then again.
    visits = [s["row"] for i, s in enumerate(steps) if i == 0 or steps[i - 1]["row"] != s["row"]]
    assert len(visits) == len(ENTRIES) * ROUNDS
    for step in steps:
        assert (tiny_run / step["directory"] / "summary.json").is_file()
        assert (tiny_run / step["directory"] / "series.json").is_file()
    # The speed probe ran all along, and every load step knows how fast its core was.
    assert all(s["speed_unit_s"] for s in data["figures"]["steps"] if s["kind"] == "load")
    for chart in ("io-capacity", "io-throughput", "io-latency", "io-saturation", "io-loop-lag"):
        path = tiny_run / "charts" / f"{chart}.png"
        assert path.read_bytes()[:8] == PNG_MAGIC
        assert f"(charts/{chart}.png)" in (tiny_run / "report.md").read_text()
    environment = data["environment"]
    assert environment["k6"]
    assert environment["service_cores"] != environment["load_cores"]
    assert environment["packages"]["gunicorn"] == locked_versions(RUNTIME_LOCK)["gunicorn"]
    # Every installed distribution, not only the direct dependencies.
    assert {"h11", "anyio", "werkzeug", "greenlet"} <= set(environment["installed"])
    assert environment["python_build"]["gil"] == "with the GIL"
    assert environment["before"]["load_average"]
    assert environment["after"]["cpu_times"]["steal"] >= environment["before"]["cpu_times"]["steal"]


def estimate_of(raw: dict[str, Any] | None) -> Estimate | None:
    return None if raw is None else Estimate(**raw)


@pytest.mark.live
def test_the_report_shows_the_figures_of_results_json(tiny_run: Path) -> None:
    report = (tiny_run / "report.md").read_text().splitlines()
    for found in figures(tiny_run)["combos"]:
        [line] = [line for line in report if line.startswith(f"| {found['row']} | ")]
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        assert cells == [
            found["row"],
            fmt_estimate(estimate_of(found["capacity"])),
            fmt_estimate(estimate_of(found["knee"])),
            fmt_ms(found["p99_at_knee_ms"]),
            fmt_estimate(estimate_of(found["requests_per_cpu_second"])),
            fmt_estimate(estimate_of(found["cpu_capacity"])),
            str(found["capacity"]["repeats"]),
            found["limited_by"],
        ]


@pytest.mark.live
def test_the_control_is_indistinguishable_from_its_original(tiny_run: Path) -> None:
    data = json.loads((tiny_run / "results.json").read_text())
    claims = {(r["faster"], r["slower"]) for r in data["rankings"]}
    assert ("flask-sync", "flask-sync-control") not in claims
    assert ("flask-sync-control", "flask-sync") not in claims
    control = data["figures"]["control"]
    assert control["separated"] == []
    assert control["ratios"]["io"] == pytest.approx(1.0, abs=0.05)
    report = (tiny_run / "report.md").read_text()
    assert "A/A control: flask-sync-control, an identical copy of flask-sync" in report
    assert "indistinguishable from it on every workload" in report
    # The rows that do differ are ranked: 25 requests/s served against one worker's 10.
    assert ("fastapi-async", "flask-sync") in claims
    assert ("fastapi-async", "flask-sync-control") in claims
    [claim] = [r for r in data["rankings"] if r["slower"] == "flask-sync"]
    assert claim["workload"] == "io"
    assert claim["ratio"] == pytest.approx(2.5, rel=0.1)
    assert claim["ratio_interval"][0] > 1.0


@pytest.mark.live
def test_results_json_has_a_verdict_per_row_and_workload(tiny_run: Path) -> None:
    data = json.loads((tiny_run / "results.json").read_text())
    verdicts = {(v["row"], v["workload"]): v for v in data["verdicts"]}
    assert set(verdicts) == {(row, "io") for row in ENTRIES}
    sync = verdicts[("flask-sync", "io")]
    assert sync["primary"] == "capacity_rps"
    assert sync["capacity_rps"] == pytest.approx(10.0, rel=0.10)
    low, high = sync["capacity_rps_interval"]
    assert low <= sync["capacity_rps"] <= high
    assert sync["knee_rps"] == pytest.approx(8.0, rel=0.10)
    assert len(sync["knee_rps_interval"]) == 2
    assert sync["limited_by"] == "worker slots"
    assert sync["requests_per_cpu_second"] > 0
    # fastapi-async kept up at 25 requests/s: its capacity is only a lower bound.
    bound = verdicts[("fastapi-async", "io")]
    assert bound["capacity_reached"] is False
    assert bound["capacity_rps_interval"][1] is None


@pytest.mark.live
def test_bench_compare_flags_only_differences_beyond_both_intervals(
    tiny_run: Path, results: Path
) -> None:
    other = tiny_matrix(results, "tiny-again", 2)
    done = bench(results, "compare", "tiny", "tiny-again")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    [sync] = [line for line in out.splitlines() if line.startswith("| io | flask-sync |")]
    assert "within the intervals" in sync
    assert "No ranking reversed." in out
    assert "flask-sync-control" not in out  # only what both runs measured
    # A run compared with itself never differs.
    same = bench(results, "compare", "tiny", str(tiny_run))
    assert "**differs**" not in same.stdout
    assert other.is_dir()
    # Bad input: a clear message, no traceback.
    missing = bench(results, "compare", "tiny", "no-such-run")
    assert missing.returncode == 2
    assert "does not exist" in missing.stderr
    assert "Traceback" not in missing.stderr


@pytest.mark.live
def test_littles_law_on_io(tiny_run: Path) -> None:
    """Throughput = requests in service / service time, with the service time from the probe."""
    sync = combo(tiny_run, "flask-sync")
    service_s = sync["service_time_ms"] / 1000.0
    assert sync["slots"] == 1
    # Past the knee every slot is busy: throughput is slots / service time.
    saturated = level(sync, 25.0)
    assert saturated["saturated"]
    assert saturated["throughput_rps"] == pytest.approx(sync["slots"] / service_s, rel=0.10)
    assert sync["littles_law_rps"] == pytest.approx(1 / service_s)
    # Below it, the slot is busy part of the time, and throughput follows the offered rate.
    below = level(sync, 8.0)
    assert not below["saturated"]
    assert below["throughput_rps"] == pytest.approx(8.0, rel=0.10)
    assert sync["knee_level_rps"] == 8.0
    assert sync["capacity"]["value"] == pytest.approx(sync["slots"] / service_s, rel=0.10)
    assert sync["limited_by"] == "worker slots"
    # Little's law predicts the capacity: that is the prediction the fidelity table draws.
    assert sync["prediction_basis"] == "Little's law"
    assert sync["capacity_ratio"] == pytest.approx(1.0, abs=0.1)

    asyncio_row = combo(tiny_run, "fastapi-async")
    service_s = asyncio_row["service_time_ms"] / 1000.0
    steps = {s["id"]: s for s in figures(tiny_run)["steps"]}
    for rate in RATES:
        at = level(asyncio_row, rate)
        assert not at["saturated"], at["reasons"]
        mine = [
            s for s in steps.values() if s["row"] == "fastapi-async" and s["offered_rps"] == rate
        ]
        assert len(mine) == ROUNDS
        for step in mine:
            # Concurrency is what the row reported (seconds in requests per second).
            concurrency = step["concurrency_mean"]
            assert step["throughput_rps"] == pytest.approx(concurrency / service_s, rel=0.10)
            assert step["throughput_rps"] == pytest.approx(rate, rel=0.10)


@pytest.mark.live
def test_bench_report_rerenders_from_the_recorded_data_alone(
    tiny_run: Path, tmp_path: Path
) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(tiny_run, copy)
    before = figures(copy)
    shutil.rmtree(copy / "charts")
    (copy / "report.md").unlink()
    done = bench(tmp_path, "report", "copy")
    assert done.returncode == 0, done.stderr
    assert figures(copy) == before
    assert (copy / "report.md").read_text() == (tiny_run / "report.md").read_text()
    assert (copy / "charts" / "io-throughput.png").is_file()


@pytest.mark.live
def test_ctrl_c_keeps_the_finished_steps_and_reports_them(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [
            sys.executable, "-m", "bench", "matrix",
            "--rows", "flask-sync",
            "--workloads", "io",
            "--rates", "5,6,7,8,9,10,11,12",
            "--step-seconds", "2",
            "--run-id", "stopped",
        ],
        env={**os.environ, "BENCH_RESULTS_DIR": str(tmp_path)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    results = tmp_path / "stopped" / "results.json"
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if results.is_file() and len(json.loads(results.read_text())["steps"]) >= 2:
                break
            time.sleep(0.2)
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=90)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 130, stderr[-2000:]
    data = json.loads(results.read_text())
    assert data["run"]["complete"] is False
    assert "interrupted" in data["run"]["stopped_because"]
    assert 2 <= len(data["steps"]) < 9
    report = (tmp_path / "stopped" / "report.md").read_text()
    assert "INCOMPLETE (interrupted (Ctrl-C))" in report
    assert f"{len(data['steps'])} steps" in report
    assert "covers the" in stdout
    assert "Traceback" not in stderr


@pytest.mark.live
def test_database_workloads_run_on_the_runs_own_postgres(results: Path) -> None:
    """db-* workloads make the native stack start a seeded PostgreSQL for the run.

    flask-sync's one worker holds its slot for the whole pg_sleep, so /db/sleep
    caps it at slots / service time as /io does. fastapi-async's event loop
    is bounded by its pool of 2 alone: 2 / 100 ms = 20 rps, under the 25
    offered, and the report names the database pool as its limit.
    """
    run = tiny_matrix(
        results, "db", 3, "--workloads", "db-sleep", "db-query", "--repeats", "1", "--db-pool", "2"
    )
    data = json.loads((run / "results.json").read_text())
    steps = [s for s in data["figures"]["steps"] if s["kind"] == "load"]
    assert {(s["row"], s["workload"]) for s in steps} == {
        (row, workload)
        for row in ("flask-sync", "fastapi-async")
        for workload in ("db-sleep", "db-query")
    }
    assert all(s["error_ratio"] == 0 for s in steps), [s["reasons"] for s in steps]
    # Our PostgreSQL's CPU is measured on every step, never more than the service
    # core it runs on; lookups back to back (the probe) keep it measurably busy.
    every = data["figures"]["steps"]
    assert all(0 <= s["database_cpu_cores"] <= 1.05 for s in every), every
    probes = [s for s in every if s["kind"] == "probe" and s["workload"] == "db-query"]
    assert probes
    assert all(s["database_cpu_cores"] > 0.02 for s in probes), probes
    [sync] = [
        c
        for c in data["figures"]["combos"]
        if (c["row"], c["workload"]) == ("flask-sync", "db-sleep")
    ]
    service_s = sync["service_time_ms"] / 1000.0
    assert service_s == pytest.approx(0.1, rel=0.2)  # pg_sleep(0.1) plus the pool's checkout
    assert level(sync, 25.0)["throughput_rps"] == pytest.approx(1 / service_s, rel=0.10)
    assert (sync["slots"], sync["limited_by"]) == (1, "worker slots")
    [pooled] = [
        c
        for c in data["figures"]["combos"]
        if (c["row"], c["workload"]) == ("fastapi-async", "db-sleep")
    ]
    assert pooled["slots"] == 2
    assert pooled["slots_basis"].startswith("database pool (2 connections")
    assert pooled["limited_by"] == "database pool", pooled["evidence"]
    pool_s = pooled["service_time_ms"] / 1000.0
    assert level(pooled, 25.0)["throughput_rps"] == pytest.approx(2 / pool_s, rel=0.10)
    report = (run / "report.md").read_text()
    assert "fastapi-async: capacity" in report
    assert "limited by database pool (" in report
    assert "--db-pool 2" in report
    assert not (run / "postgres").exists()  # stopped and removed with the run's stack
