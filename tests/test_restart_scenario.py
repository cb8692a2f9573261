"""`bench loadtest --scenario restart`: what a restart under load costs, as users see it.

Live: a native stack of one gunicorn row under a real supervisord, real k6
load, real signals; the figures must add up and the row must come back.
The classification of k6's outcomes and the outage arithmetic are checked
on their own against hand-made timelines.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.loadtest.restart import OUTCOMES, RequestEnd, classify, longest_outage
from bench.stack.layout import NativeStackConfig, free_port_offset, native_stack_config
from bench.stack.native import start_native, stop_native
from bench.stack.supervisor_client import program_states

BENCH = str(Path(sys.executable).parent / "bench")
ROW = "flask-sync"  # gunicorn sync, one worker: the row whose queue a restart resets
SCALE = 0.3  # 9 s of load per run, the signal at 3 s
RATE = 20
CLI_TIMEOUT_S = 120

pytestmark = pytest.mark.live


@pytest.mark.parametrize(
    ("tags", "outcome"),
    [
        ({"status": "200"}, "served"),
        ({"status": "0", "error_code": "1212", "error": "dial: connection refused"}, "refused"),
        ({"status": "0", "error_code": "1220", "error": "read: connection reset by peer"}, "reset"),
        ({"status": "0", "error_code": "1000", "error": "EOF"}, "reset"),
        ({"status": "0", "error_code": "1201", "error": "write: broken pipe"}, "reset"),
        ({"status": "0", "error_code": "1050", "error": "request timeout"}, "timeout"),
        ({"status": "503"}, "http_error"),
        ({"status": "0", "error_code": "1000", "error": "something else"}, "other"),
    ],
)
def test_each_k6_outcome_is_classified(tags: dict[str, str], outcome: str) -> None:
    assert classify(tags) == outcome


def _ends(*timeline: tuple[float, str]) -> list[RequestEnd]:
    return [RequestEnd(at, outcome) for at, outcome in timeline]


def test_the_outage_is_the_longest_stretch_without_a_served_request_after_the_fault() -> None:
    ends = _ends(
        (1.0, "served"),
        (2.0, "served"),  # last served before the fault at 2.5
        (2.6, "refused"),
        (3.1, "refused"),
        (4.0, "served"),  # back: 2.0 s without a served request
        (4.5, "served"),
    )
    assert longest_outage(ends, fault_at=2.5) == pytest.approx(2.0)
    # A gap before the fault does not count; one that only ends after it does.
    assert longest_outage(_ends((0.0, "served"), (3.0, "served")), fault_at=2.9) == 3.0
    # Never served again: the outage runs to the last request, a lower bound.
    never = _ends((1.0, "served"), (3.0, "refused"), (7.0, "refused"))
    assert longest_outage(never, fault_at=2.0) == pytest.approx(6.0)
    assert longest_outage([], fault_at=1.0) is None


def _bench(state_dir: Path, offset: int, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "BENCH_STATE_DIR": str(state_dir),
        "BENCH_STACK": "native",
        "BENCH_PORT_OFFSET": str(offset),
    }
    return subprocess.run(
        [BENCH, *args], env=env, capture_output=True, text=True, timeout=CLI_TIMEOUT_S, check=False
    )


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NativeStackConfig]:
    """The native stack cut down to one row (no database, Prometheus or Grafana)."""
    state_dir = tmp_path_factory.mktemp("restart") / "state"
    config = native_stack_config(offset=free_port_offset(), state_dir=state_dir)
    programs = tuple(p for p in config.programs if p.name == ROW)
    small = dataclasses.replace(config, programs=programs, database=None, missing=())
    started = start_native(small)
    try:
        yield started
    finally:
        stop_native(started.state_dir)


def test_restart_scenario_counts_what_each_fault_cost_and_the_row_comes_back(
    stack: NativeStackConfig, tmp_path: Path
) -> None:
    first_pid = program_states(stack.state_dir)[ROW][1]
    done = _bench(
        stack.state_dir,
        stack.offset,
        "loadtest",
        "--scenario",
        "restart",
        "--target",
        ROW,
        "--duration-scale",
        str(SCALE),
        "--rate",
        str(RATE),
        "--no-push",
        "--results-dir",
        str(tmp_path),
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"| {ROW} | SIGTERM |" in done.stdout, done.stdout
    [run_dir] = tmp_path.iterdir()
    results = json.loads((run_dir / "restart.json").read_text())
    assert results["notes"] == []
    figures = {f["fault"]: f for f in results["figures"]}
    assert set(figures) == {"SIGTERM", "SIGKILL"}
    offered = RATE * 30 * SCALE
    for fault, f in figures.items():
        # Every request the clients sent has exactly one outcome.
        assert f["sent"] == sum(f[outcome] for outcome in OUTCOMES), f
        assert f["sent"] + f["dropped"] == pytest.approx(offered, rel=0.1), f
        # Down for a while (a new gunicorn imports the app before it binds),
        # then serving again well before the run ended.
        assert f["failed"] > 0, (fault, f)
        assert f["served_after_fault"] > RATE, (fault, f)
        assert 0 < f["unavailable_s"] < 30 * SCALE - 10 * SCALE, (fault, f)
        assert f["respawned_after_s"] is not None, (fault, f)
    records = {r["fault"]: r for r in json.loads((run_dir / "params.json").read_text())["rows"]}
    assert records["SIGTERM"]["old_pid"] == first_pid
    assert records["SIGKILL"]["old_pid"] == records["SIGTERM"]["new_pid"]
    assert program_states(stack.state_dir)[ROW] == ("RUNNING", records["SIGKILL"]["new_pid"])
    assert f"| {ROW} | SIGKILL |" in (run_dir / "restart.md").read_text()
    status = _bench(stack.state_dir, stack.offset, "status")
    assert f"restarts: {ROW} exited unexpectedly 2 times" in status.stdout, status.stdout


def test_restart_scenario_refuses_before_any_load_what_it_cannot_fault(
    stack: NativeStackConfig, tmp_path: Path
) -> None:
    no_stack = _bench(
        tmp_path / "nothing-here", stack.offset, "loadtest", "--scenario", "restart",
        "--target", ROW, "--results-dir", str(tmp_path / "results"),
    )  # fmt: skip
    assert no_stack.returncode == 2, no_stack.stdout + no_stack.stderr
    assert "native stack" in no_stack.stderr
    late = _bench(
        stack.state_dir, stack.offset, "loadtest", "--scenario", "restart", "--target", ROW,
        "--set", "FAULT_AT_SECONDS=40", "--results-dir", str(tmp_path / "results"),
    )  # fmt: skip
    assert late.returncode == 2, late.stdout + late.stderr
    assert "FAULT_AT_SECONDS" in late.stderr
    assert not (tmp_path / "results").exists() or not any((tmp_path / "results").iterdir())
