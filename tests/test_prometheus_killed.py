"""Prometheus SIGKILLed mid-run: what the native stack and `bench matrix` do.

On the native stack (`make up`): a small one (flask-sync and Prometheus,
under a real supervisord, Prometheus on its own data directory) while
`bench loadtest` runs k6's arrival scenario against the row and pushes k6's
metrics to that Prometheus by remote write, as `make loadtest` does.
Part-way through, Prometheus is sent SIGKILL (the OOM killer, a crash).
supervisord must start it again on the same port and data directory; the
samples it had scraped and received before the kill must all still be there
(its TSDB write-ahead log), the row's scrapes and k6's pushes must resume
after the restart, and k6's run must end with its summary as if nothing had
happened. `pytest -s` prints what was lost: the seconds without samples.

In `bench matrix` (its own Prometheus, which nothing restarts): the run must
stop with a clear message and no traceback, the step whose series could not
be recorded is recorded failed, and every finished step stays in
results.json and report.md.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from bench.prometheus import PrometheusClient
from bench.stack.layout import (
    PROMETHEUS_PROGRAM,
    NativeStackConfig,
    free_port_offset,
    native_stack_config,
)
from bench.stack.native import start_native, stop_native
from bench.stack.supervisor_client import program_states
from services.instrumentation.recording import FLUSH_INTERVAL_S
from tests.faults import (
    alive,
    child_named,
    descendants,
    finish,
    recorded_steps,
    start_matrix,
    temporaries,
    wait_for,
)

pytestmark = pytest.mark.live

BENCH = str(Path(sys.executable).parent / "bench")
ROW = "flask-sync"
ENDPOINT = "/io?ms=10"
RATE = "10"  # requests/s at the last of the arrival scenario's four stages
DURATION_SCALE = "0.2"  # four stages of 3 s
LOADTEST_TIMEOUT_S = 90.0
MATRIX_TIMEOUT_S = 120.0
WAIT_S = 30.0
ROW_REQUESTS = f'http_server_request_duration_seconds_count{{service="{ROW}",route="/io"}}'
K6_REQUESTS = 'k6_http_reqs_total{scenario_name="arrival"}'
# Raw samples over the whole test (instant query of a range selector).
LOOKBACK = "10m"

Samples = dict[str, list[tuple[float, float]]]


def samples(prometheus: PrometheusClient, selector: str) -> Samples:
    """Every raw sample of ``selector``'s series, by series (its labels as JSON)."""
    result: list[dict[str, Any]] = prometheus.query(f"{selector}[{LOOKBACK}]")
    return {
        json.dumps(series["metric"], sort_keys=True): [
            (float(t), float(v)) for t, v in series["values"]
        ]
        for series in result
    }


def count(found: Samples) -> int:
    return sum(len(points) for points in found.values())


def after(found: Samples, moment: float) -> int:
    return sum(1 for points in found.values() for t, _ in points if t > moment)


def longest_gap(found: Samples) -> float:
    """The longest time between two consecutive samples of one series."""
    gaps = [b[0] - a[0] for points in found.values() for a, b in itertools.pairwise(points)]
    return max(gaps, default=0.0)


def missing(before: Samples, later: Samples) -> list[tuple[str, float, float]]:
    """Samples of ``before`` that ``later`` no longer has."""
    return [
        (series, t, v)
        for series, points in before.items()
        for t, v in points
        if (t, v) not in set(later.get(series, []))
    ]


def prometheus_pid(config: NativeStackConfig, not_pid: int = 0) -> int:
    """Prometheus's pid once supervisord has started it (a pid other than ``not_pid``)."""
    found = 0

    def started() -> bool:
        nonlocal found
        state, found = program_states(config.state_dir).get(PROMETHEUS_PROGRAM, ("", 0))
        return state in {"STARTING", "RUNNING"} and found not in {0, not_pid}

    wait_for(started, "supervisord starting Prometheus", WAIT_S)
    return found


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[NativeStackConfig]:
    config = native_stack_config(offset=free_port_offset(), state_dir=tmp_path / "state")
    programs = tuple(p for p in config.programs if p.name in {ROW, PROMETHEUS_PROGRAM})
    assert {p.name for p in programs} == {ROW, PROMETHEUS_PROGRAM}, config.missing
    small = dataclasses.replace(config, programs=programs, database=None, missing=())
    try:
        yield start_native(small)
    finally:
        stop_native(small.state_dir)


def test_prometheus_killed_mid_run_keeps_its_samples_and_k6_pushes_again(
    stack: NativeStackConfig, tmp_path: Path
) -> None:
    prometheus = PrometheusClient(stack.prometheus_url)
    results = tmp_path / "results"
    loadtest = subprocess.Popen(
        [
            BENCH, "loadtest", "--scenario", "arrival", "--target", ROW,
            "--url", stack.row_url(ROW), "--endpoint", ENDPOINT, "--rate", RATE,
            "--duration-scale", DURATION_SCALE, "--prometheus-url", stack.prometheus_url,
            "--results-dir", str(results),
        ],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        # Mid-run: the row scraped while it serves k6, and k6's pushes arrived.
        wait_for(
            lambda: (
                count(samples(prometheus, ROW_REQUESTS)) >= 3
                and count(samples(prometheus, K6_REQUESTS)) >= 2
            ),
            "the row's scrapes and k6's pushes in Prometheus",
            WAIT_S,
        )
        row_before = samples(prometheus, ROW_REQUESTS)
        k6_before = samples(prometheus, K6_REQUESTS)
        old_pid = prometheus_pid(stack)
        killed_at = time.time()
        os.kill(old_pid, signal.SIGKILL)
        prometheus_pid(stack, not_pid=old_pid)
        wait_for(prometheus.is_ready, "Prometheus ready again", WAIT_S)
        back_at = time.time()
        assert loadtest.poll() is None, "the run ended before Prometheus was back: make it longer"
        output, _ = loadtest.communicate(timeout=LOADTEST_TIMEOUT_S)
    finally:
        if loadtest.poll() is None:
            loadtest.kill()
            loadtest.communicate()

    # k6's run went on and ended as usual, with its whole summary.
    assert loadtest.returncode == 0, output
    [run_dir] = list(results.iterdir())
    params = json.loads((run_dir / "params.json").read_text())
    assert (params["partial"], params["failed"]) == (False, None)
    summary = json.loads((run_dir / ROW / "summary.json").read_text())
    served = summary["metrics"]["iterations"]["values"]["count"]  # one request each
    assert served > 0
    assert summary["metrics"]["http_req_failed"]["values"]["rate"] == 0
    started, ended = (
        datetime.fromisoformat(params[moment]).timestamp() for moment in ("started_at", "ended_at")
    )

    # Everything Prometheus had before the kill is still there (its WAL) ...
    # A scrape after the row published its last counts (every FLUSH_INTERVAL_S).
    wait_for(
        lambda: after(samples(prometheus, ROW_REQUESTS), ended + 5 * FLUSH_INTERVAL_S) >= 1,
        "a scrape of the row after the run",
        WAIT_S,
    )
    row_later = samples(prometheus, ROW_REQUESTS)
    k6_later = samples(prometheus, K6_REQUESTS)
    assert missing(row_before, row_later) == []
    assert missing(k6_before, k6_later) == []
    # ... and both the row's scrapes and k6's remote write resumed after the restart.
    assert after(row_later, back_at) >= 2
    assert after(k6_later, back_at) >= 1
    # The row counted every request k6 sent (its counter went on through the outage).
    assert sum(points[-1][1] for points in row_later.values()) == served
    k6_log = (run_dir / ROW / "k6.log").read_text(errors="replace").splitlines()
    push_errors = [line for line in k6_log if "remote write" in line.lower()]
    print(
        f"\nPrometheus SIGKILLed {killed_at - started:.1f} s into the run, ready again "
        f"{back_at - killed_at:.1f} s later; kept all {count(row_before)} row and "
        f"{count(k6_before)} k6 samples it had; "
        f"longest gap: row scrapes {longest_gap(row_later):.1f} s, k6 pushes "
        f"{longest_gap(k6_later):.1f} s; k6 served {served:g} requests, none failed, "
        f"and logged {len(push_errors)} remote-write errors"
    )
    print(*push_errors[:3], sep="\n")


def test_prometheus_killed_mid_matrix_stops_it_cleanly_and_keeps_the_finished_steps(
    tmp_path: Path,
) -> None:
    run_dir = tmp_path / "stopped"
    # More rates than it reaches: the kill ends it.
    matrix = start_matrix(tmp_path, run_dir.name, "--rates", "5,6,7,8,9,10,11,12")
    try:
        wait_for(lambda: len(recorded_steps(run_dir)) >= 2, "two steps recorded", MATRIX_TIMEOUT_S)
        prometheus = child_named(matrix.pid, "prometheus", running_for_s=0, timeout_s=WAIT_S)
        started = descendants(matrix.pid)
        prometheus.kill()
    finally:
        stdout, stderr = finish(matrix, MATRIX_TIMEOUT_S)

    assert matrix.returncode == 1, stderr[-3000:]
    assert "Traceback" not in stderr
    data = json.loads((run_dir / "results.json").read_text())
    assert data["run"]["complete"] is False
    why = data["run"]["stopped_because"]
    assert why.startswith("failed: step "), why
    assert "Prometheus at http://127.0.0.1:" in why
    assert "did not answer (" in why
    # The step whose series it could not query is recorded failed: the last one.
    *finished, failed = data["steps"]
    assert len(finished) >= 2
    assert all(step["failure"] is None for step in finished)
    assert failed["failure"].startswith("Prometheus at ")
    assert f"bench matrix: step {failed['id']} ({failed['directory']}) failed: Prometheus" in stderr
    assert "The run stops here; its finished steps are kept." in stderr
    for step in finished:
        assert (run_dir / step["directory"] / "summary.json").is_file()
        assert (run_dir / step["directory"] / "series.json").is_file()
    assert not (run_dir / failed["directory"] / "series.json").exists()
    # The report covers the finished steps, and says why the run is incomplete.
    report = (run_dir / "report.md").read_text()
    assert "INCOMPLETE (failed: step" in report
    assert f"| {failed['id']} (failed) |" in report
    assert f"covers the {len(finished)} finished steps" in stdout
    assert temporaries(run_dir) == []
    assert alive(started) == []
