"""`bench loadtest` runs every k6 scenario against real rows; bad invocations are clear."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bench.procs import free_port, running_row
from bench.prometheus import running_prometheus

pytestmark = pytest.mark.live

SCALED = {
    # scenario: extra arguments that make its full shape last a few seconds
    "three-users": ["--endpoint", "/io?ms=200"],
    "ramp": ["--duration-scale", "0.05", "--vus", "4"],
    "arrival": ["--duration-scale", "0.05", "--rate", "20"],
    "spike": ["--duration-scale", "0.05", "--rate", "20", "--set", "BASE_RATE=2"],
    "soak": ["--duration-scale", "0.001", "--rate", "10"],
    "throughput": ["--vus", "2", "--set", "MEASURE_SECONDS=2"],
}


def bench_loadtest(*args: str, timeout_s: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bench", "loadtest", *args],
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )


def only_run_dir(results: Path) -> Path:
    [run_dir] = list(results.iterdir())
    return run_dir


def read_json(path: Path) -> Any:
    return json.loads(path.read_text())


@pytest.fixture(scope="module")
def async_row(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with running_row("fastapi-async", tmp_path_factory.mktemp("row")) as server:
        yield server.base_url


@pytest.mark.parametrize("scenario", list(SCALED))
def test_every_scenario_runs_and_records(scenario: str, async_row: str, tmp_path: Path) -> None:
    result = bench_loadtest(
        "--scenario", scenario, "--target", "fastapi-async", "--url", async_row,
        "--results-dir", str(tmp_path), "--no-push", *SCALED[scenario],
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    run_dir = only_run_dir(tmp_path)
    assert f"results: {run_dir}" in result.stdout
    params = read_json(run_dir / "params.json")
    assert params["scenario"] == scenario
    assert params["k6_version"] == "1.1.0"
    assert params["partial"] is False
    assert params["pushed_to_prometheus"] is False
    [row] = params["rows"]
    assert row["row"] == "fastapi-async"
    assert row["thresholds_passed"] is True
    summary = read_json(run_dir / "fastapi-async" / "summary.json")
    metrics = summary["metrics"]
    assert {"http_reqs", "http_req_duration", "iterations", "http_req_failed"} <= set(metrics)
    assert metrics["http_req_failed"]["values"]["rate"] == 0
    if scenario == "arrival":
        assert metrics["dropped_iterations"]["values"]["count"] == 0


def three_user_times(row: str, path: str, tmp_path: Path) -> list[float]:
    with running_row(row, tmp_path / "server", workers=1) as server:
        result = bench_loadtest(
            "--scenario", "three-users", "--target", row, "--url", server.base_url,
            "--endpoint", path, "--results-dir", str(tmp_path / "results"), "--no-push",
        )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "users, in the order they got their answer" in result.stdout
    metrics = read_json(only_run_dir(tmp_path / "results") / row / "summary.json")["metrics"]
    return sorted(metrics[f"user_seconds{{user:{user}}}"]["values"]["max"] for user in (1, 2, 3))


def test_three_users_serialise_on_one_sync_worker(tmp_path: Path) -> None:
    times = three_user_times("flask-sync", "/sync?ms=500", tmp_path)
    assert times[2] / times[0] >= 2.0, times  # ~0.5, ~1.0, ~1.5 s


def test_three_users_overlap_on_one_event_loop(tmp_path: Path) -> None:
    times = three_user_times("fastapi-async", "/async?ms=500", tmp_path)
    assert times[2] / times[0] <= 1.6, times  # ~0.5 s each


def test_k6_pushes_native_histograms_with_the_testid(async_row: str, tmp_path: Path) -> None:
    config = tmp_path / "prometheus.yml"
    config.write_text("global:\n  scrape_interval: 15s\nscrape_configs: []\n")
    with running_prometheus(config, tmp_path) as prometheus:
        started = time.time()
        result = bench_loadtest(
            "--scenario", "ramp", "--target", "fastapi-async", "--url", async_row,
            "--results-dir", str(tmp_path / "results"), "--prometheus-url", prometheus.base_url,
            "--duration-scale", "0.1", "--vus", "3",
        )  # fmt: skip
        assert result.returncode == 0, result.stdout + result.stderr
        testid = read_json(only_run_dir(tmp_path / "results") / "params.json")["testid"]
        assert f"testid={testid}" in result.stdout
        selector = f'{{testid="{testid}", service="fastapi-async"}}'
        names = {s["__name__"] for s in prometheus.series(selector)}
        # k6's stale markers end every series with the run: look over the run.
        histogram = prometheus.query_range(
            f"histogram_count(k6_http_req_duration_seconds{selector})",
            started,
            time.time(),
            step=1,
        )
    assert {"k6_vus", "k6_http_reqs_total", "k6_http_req_duration_seconds"} <= names
    assert histogram, "no native-histogram request duration for this testid"
    assert max(float(v) for series in histogram for _, v in series["values"]) > 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--scenario", "stampede"], "unknown scenario 'stampede'; valid scenarios: three-users"),
        (["--target", "flask-async"], "unknown row 'flask-async'; valid rows: flask-sync"),
        (["--target", "all", "--url", "http://127.0.0.1:1"], "--url needs a single --target"),
        (["--target", "flask-sync", "--endpoint", "/io/blocking"], "no row of 'flask-sync'"),
        (["--vus", "0", "--target", "flask-sync"], "--vus must be positive"),
        (["--instances", "0", "--target", "flask-sync"], "--instances must be at least 1"),
        (["--k6-cpus", "1-x", "--target", "flask-sync"], "--k6-cpus '1-x' is not a CPU list"),
        (["--k6-cpus", "4096", "--target", "flask-sync"], "cores [4096] are not usable here"),
    ],
)
def test_bad_invocations_are_usage_errors(args: list[str], message: str, tmp_path: Path) -> None:
    result = bench_loadtest(*args, "--results-dir", str(tmp_path))
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert not any(tmp_path.iterdir())


def test_stack_down_says_how_to_start_it(tmp_path: Path) -> None:
    nobody = f"http://127.0.0.1:{free_port()}"
    result = bench_loadtest(
        "--target", "flask-sync", "--url", nobody, "--results-dir", str(tmp_path)
    )
    assert result.returncode == 1
    assert f"not answering: flask-sync at {nobody}" in result.stderr
    assert "make up" in result.stderr
    assert not any(tmp_path.iterdir())  # nothing misleading written


def test_interrupt_leaves_a_partial_summary(async_row: str, tmp_path: Path) -> None:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bench",
            "loadtest",
            "--scenario",
            "soak",
            "--target",
            "fastapi-async",
            "--url",
            async_row,
            "--rate",
            "5",
            "--set",
            "SOAK_SECONDS=60",
            "--results-dir",
            str(tmp_path),
            "--no-push",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while not list(tmp_path.glob("*/fastapi-async/k6.log")) and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(3)  # let some requests complete
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 130, output
    run_dir = only_run_dir(tmp_path)
    params = read_json(run_dir / "params.json")
    assert params["partial"] is True
    assert params["rows"][0]["partial"] is True
    summary = read_json(run_dir / "fastapi-async" / "summary.json")
    assert summary["metrics"]["iterations"]["values"]["count"] > 0
    assert httpx.get(f"{async_row}/health", timeout=5).status_code == 200
