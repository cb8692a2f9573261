"""k6 SIGKILLed mid-run (the OOM killer, a stray kill): recorded as failed, with the reason.

`bench loadtest` stops with a clear message and exit 1, its params.json
saying which row's k6 was killed; `bench matrix` records the step as failed
(its figures left out), runs it again and carries on. Neither leaves a
half-written file or a process behind.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from bench.procs import running_row
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

KILLED = "k6 was killed by SIGKILL"
# Long enough to be killed mid-run: k6 takes a moment to start its VUs.
K6_RUNNING_S = 1.0
TIMEOUT_S = 120.0


def test_loadtest_whose_k6_is_killed_fails_with_the_reason(tmp_path: Path) -> None:
    results = tmp_path / "results"
    with running_row("fastapi-async", tmp_path) as row:
        loadtest = subprocess.Popen(
            [
                sys.executable, "-m", "bench", "loadtest", "--scenario", "arrival",
                "--target", "fastapi-async", "--url", row.base_url, "--rate", "20",
                "--duration-scale", "0.1", "--no-push", "--results-dir", str(results),
            ],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            k6 = child_named(loadtest.pid, "k6", running_for_s=K6_RUNNING_S, timeout_s=TIMEOUT_S)
            started = descendants(loadtest.pid)
            k6.kill()
        finally:
            stdout, stderr = finish(loadtest, TIMEOUT_S)
        # The row was never the problem: it serves on.
        assert httpx.get(f"{row.base_url}/health", timeout=5.0).status_code == 200

    assert loadtest.returncode == 1, stdout + stderr
    assert "Traceback" not in stderr
    assert f"bench loadtest: fastapi-async: {KILLED}: no whole summary of it" in stderr
    [run_dir] = list(results.iterdir())
    params = json.loads((run_dir / "params.json").read_text())
    assert params["failed"] == f"fastapi-async: {KILLED}"
    assert params["partial"] is True
    assert params["ended_at"]
    [record] = params["rows"]
    assert (record["failure"], record["summary"], record["exit_code"]) == (KILLED, None, -9)
    assert not (run_dir / "fastapi-async" / "summary.json").exists()
    assert (run_dir / "fastapi-async" / "k6.log").is_file()
    assert temporaries(run_dir) == []
    assert alive(started) == []


def test_matrix_step_whose_k6_is_killed_is_recorded_failed_and_run_again(tmp_path: Path) -> None:
    run_dir = tmp_path / "killed"
    matrix = start_matrix(tmp_path, run_dir.name, "--rates", "5", "--repeats", "1")
    try:
        # The probe is recorded: the next k6 is the first load step's.
        wait_for(lambda: len(recorded_steps(run_dir)) >= 1, "the probe recorded", TIMEOUT_S)
        k6 = child_named(matrix.pid, "k6", running_for_s=K6_RUNNING_S, timeout_s=TIMEOUT_S)
        k6.kill()
        started = descendants(matrix.pid)
    finally:
        stdout, stderr = finish(matrix, TIMEOUT_S)

    assert matrix.returncode == 0, stderr[-3000:]
    data = json.loads((run_dir / "results.json").read_text())
    assert data["run"]["complete"] is True
    steps = data["steps"]
    assert [(s["kind"], s["offered_rps"]) for s in steps] == [
        ("probe", None),
        ("load", 5.0),
        ("load", 5.0),  # run again
    ]
    killed = steps[1]
    assert (killed["failure"], killed["exit_code"], killed["stopped_by"]) == (KILLED, -9, None)
    assert all(s["failure"] is None for s in steps if s is not killed)
    # k6 died before its summary: none, and no fragment of one.
    assert not (run_dir / killed["directory"] / "summary.json").exists()
    assert temporaries(run_dir) == []
    warning = (
        f"step {killed['id']} ({killed['directory']}) failed: {KILLED}; "
        "its figures are left out, it was run again"
    )
    assert data["failures"] == [warning]
    # Its figures are in no estimate: the level holds the one good repeat.
    [combo] = data["figures"]["combos"]
    assert [(lv["offered_rps"], lv["repeats"]) for lv in combo["levels"]] == [(5.0, 1)]
    report = (run_dir / "report.md").read_text()
    assert f"- {warning}" in report
    assert f"| {killed['id']} (failed) |" in report
    assert "Traceback" not in stderr
    assert "report: " in stdout
    assert "covers the" not in stdout  # a complete run
    assert alive(started) == []
