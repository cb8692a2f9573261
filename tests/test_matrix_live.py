"""A real, tiny matrix: two rows, /io, two offered rates, against real servers.

It runs `bench matrix` exactly as `make bench` does (native stack: Prometheus,
the rows under gunicorn and uvicorn, k6), only smaller.
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

from bench.matrix.report import fmt_ms, fmt_rps

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
# flask-sync (1 worker, 100 ms) saturates at 10 rps, fastapi-async does not. Steps of
# 3 s hold enough requests (24 at 8 rps) that counting them is good to a few percent.
RATES = (8.0, 25.0)
STEP_SECONDS = "3"


def bench(results: Path, *args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bench", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env={**os.environ, "BENCH_RESULTS_DIR": str(results)},
    )


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    results = tmp_path_factory.mktemp("results")
    rates = ",".join(f"{rate:g}" for rate in RATES)
    done = bench(
        results,
        "matrix",
        "--rows", "flask-sync", "fastapi-async",
        "--workloads", "io",
        "--rates", rates,
        "--step-seconds", STEP_SECONDS,
        "--seed", "1",
        "--run-id", "tiny",
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    return results / "tiny"


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
    assert [s["kind"] for s in data["steps"]].count("probe") == 2
    assert len(data["steps"]) == 2 * (1 + len(RATES))
    for step in data["steps"]:
        assert (tiny_run / step["directory"] / "summary.json").is_file()
        assert (tiny_run / step["directory"] / "series.json").is_file()
    for chart in ("io-throughput", "io-latency", "io-saturation", "io-loop-lag"):
        path = tiny_run / "charts" / f"{chart}.png"
        assert path.read_bytes()[:8] == PNG_MAGIC
        assert f"(charts/{chart}.png)" in (tiny_run / "report.md").read_text()
    environment = data["environment"]
    assert environment["k6"]
    assert environment["service_cores"] != environment["load_cores"]
    assert environment["packages"]["gunicorn"] == "23.0.0"


@pytest.mark.live
def test_the_report_shows_the_figures_of_results_json(tiny_run: Path) -> None:
    report = (tiny_run / "report.md").read_text().splitlines()
    for found in figures(tiny_run)["combos"]:
        [line] = [line for line in report if line.startswith(f"| {found['row']} | ")]
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        assert cells == [
            found["row"],
            fmt_rps(found["max_sustainable_rps"]),
            fmt_ms(found["p99_at_sustainable_ms"]),
            fmt_ms(found["cpu_ms_at_sustainable"]),
            fmt_rps(found["max_throughput_rps"]),
            fmt_rps(found["predicted_knee_rps"]),
            found["limited_by"],
        ]


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
    assert sync["knee_offered_rps"] == 8.0
    assert sync["max_sustainable_rps"] == pytest.approx(8.0, rel=0.10)
    assert sync["limited_by"] == "worker slots"

    asyncio_row = combo(tiny_run, "fastapi-async")
    service_s = asyncio_row["service_time_ms"] / 1000.0
    steps = {s["id"]: s for s in figures(tiny_run)["steps"]}
    for rate in RATES:
        at = level(asyncio_row, rate)
        assert not at["saturated"], at["reasons"]
        [step] = [
            s for s in steps.values() if s["row"] == "fastapi-async" and s["offered_rps"] == rate
        ]
        # Concurrency is what the row reported (seconds in requests per second).
        assert at["throughput_rps"] == pytest.approx(step["concurrency_mean"] / service_s, rel=0.10)
        assert at["throughput_rps"] == pytest.approx(rate, rel=0.10)


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
