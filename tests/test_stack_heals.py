"""The native stack heals: supervisord restarts whatever dies that `bench down` did not stop.

A small native stack (the latency service, one gunicorn row, one uvicorn row)
under a real supervisord; its programs are sent SIGTERM (a gunicorn master
exits 0 on it) and SIGKILL (a crash) from outside, as an operator or the OOM
killer would. Each must serve again, `bench status` / `bench logs` must say
what was restarted and why, and `bench down` must leave nothing running.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from bench.stack.layout import NativeStackConfig, Program, free_port_offset, native_stack_config
from bench.stack.native import StackNotHealthyError, start_native, stop_native
from bench.stack.supervisor_client import processes_of, program_states
from bench.stack.supervisor_conf import CAP_EXITS, CAP_WINDOW_S, START_RETRIES, START_SECS

BENCH = str(Path(sys.executable).parent / "bench")
GUNICORN_ROW = "flask-sync"
# Its uvicorn worker, orphaned, would serve on for good (flask-sync's sync
# worker notices a dead master within seconds by itself).
UVICORN_WORKER_ROW = "fastapi-gunicorn"
UVICORN_ROW = "fastapi-async"
GRANIAN_ROW = "flask-granian"
PROGRAMS = {"latency", GUNICORN_ROW, UVICORN_WORKER_ROW, UVICORN_ROW, GRANIAN_ROW}
CLI_TIMEOUT_S = 60
# supervisord restarts at once; the new process must then stay up START_SECS.
HEAL_TIMEOUT_S = 30.0 + START_SECS
POLL_S = 0.2

pytestmark = pytest.mark.live


def _small_config(state_dir: Path, extra: tuple[Program, ...] = ()) -> NativeStackConfig:
    """The native stack cut down to PROGRAMS (no database, Prometheus or Grafana)."""
    config = native_stack_config(offset=free_port_offset(), state_dir=state_dir)
    programs = tuple(program for program in config.programs if program.name in PROGRAMS)
    return dataclasses.replace(config, programs=programs + extra, database=None, missing=())


def _bench(config: NativeStackConfig, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "BENCH_STATE_DIR": str(config.state_dir), "BENCH_STACK": "native"}
    return subprocess.run(
        [BENCH, *args], env=env, capture_output=True, text=True, timeout=CLI_TIMEOUT_S, check=False
    )


def _serves(config: NativeStackConfig, row: str) -> bool:
    try:
        return httpx.get(f"{config.row_url(row)}/hello", timeout=2.0).status_code == 200
    except httpx.HTTPError:
        return False


def _wait_running(config: NativeStackConfig, name: str, not_pid: int = 0) -> int:
    """The pid of ``name`` once supervisord says RUNNING (a pid other than ``not_pid``)."""
    deadline = time.monotonic() + HEAL_TIMEOUT_S
    while time.monotonic() < deadline:
        state, pid = program_states(config.state_dir).get(name, ("", 0))
        if state == "RUNNING" and pid not in {0, not_pid}:
            return pid
        time.sleep(POLL_S)
    raise AssertionError(f"{name} not RUNNING again within {HEAL_TIMEOUT_S} s: {state}")


def _alive(pids: list[int]) -> list[int]:
    alive = []
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                alive.append(pid)
        except psutil.NoSuchProcess:
            continue
    return alive


def _wait_gone(pids: list[int], timeout_s: float = 10.0) -> list[int]:
    deadline = time.monotonic() + timeout_s
    while _alive(pids) and time.monotonic() < deadline:
        time.sleep(POLL_S)
    return _alive(pids)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NativeStackConfig]:
    config = start_native(_small_config(tmp_path_factory.mktemp("heal") / "state"))
    try:
        yield config
    finally:
        stop_native(config.state_dir)


# The order matters: the status test below counts these four faults.
FAULTS = [
    (GUNICORN_ROW, signal.SIGTERM),
    (GUNICORN_ROW, signal.SIGKILL),
    (UVICORN_WORKER_ROW, signal.SIGKILL),
    (UVICORN_ROW, signal.SIGTERM),
    (UVICORN_ROW, signal.SIGKILL),
    (GRANIAN_ROW, signal.SIGKILL),
]


@pytest.mark.parametrize(("row", "sent"), FAULTS, ids=[f"{r}-{s.name}" for r, s in FAULTS])
def test_a_program_that_dies_is_restarted_and_serves_again(
    stack: NativeStackConfig, row: str, sent: signal.Signals
) -> None:
    pid = _wait_running(stack, row)
    workers = [child.pid for child in psutil.Process(pid).children(recursive=True)]
    os.kill(pid, sent)
    new_pid = _wait_running(stack, row, not_pid=pid)
    assert _serves(stack, row)
    # A killed master takes its workers with it (gunicorn: services/
    # instrumentation/parent_death.py; Granian's workers watch their parent):
    # none is left serving beside the new one.
    assert _wait_gone([pid, *workers], timeout_s=5.0) == []
    assert new_pid in {process.pid for process in processes_of(stack.state_dir)}


def test_status_and_logs_say_what_was_restarted_and_why(stack: NativeStackConfig) -> None:
    status = _bench(stack, "status")
    assert status.returncode == 0, status.stdout + status.stderr
    restarts = {
        line.split()[1]: line for line in status.stdout.splitlines() if line.startswith("restarts:")
    }
    assert set(restarts) == {GUNICORN_ROW, UVICORN_WORKER_ROW, UVICORN_ROW, GRANIAN_ROW}
    for row in (GUNICORN_ROW, UVICORN_ROW):
        assert f"{row} exited unexpectedly 2 times and was restarted" in restarts[row]
        assert "last: terminated by SIGKILL at " in restarts[row]
    assert f"{UVICORN_WORKER_ROW} exited unexpectedly once and was" in restarts[UVICORN_WORKER_ROW]
    assert "latency" not in restarts
    logs = _bench(stack, "logs", GUNICORN_ROW, "--lines", "3")
    assert logs.returncode == 0, logs.stderr
    assert logs.stdout.splitlines()[1].startswith(
        f"[supervisord] {GUNICORN_ROW} exited unexpectedly 2 times and was restarted"
    ), logs.stdout


def test_down_stops_everything_and_nothing_is_restarted(stack: NativeStackConfig) -> None:
    ours = [process.pid for process in processes_of(stack.state_dir)]
    assert len(ours) >= 8  # latency, uvicorn, two gunicorn and one Granian row with workers
    down = _bench(stack, "down")
    assert down.returncode == 0, down.stdout + down.stderr
    assert _alive(ours) == []
    time.sleep(START_SECS)  # long enough for a restart to show
    assert processes_of(stack.state_dir) == []
    assert not any(_serves(stack, row.name) for row in stack.rows)
    assert "restarts:" not in _bench(stack, "status").stdout


def test_a_program_that_cannot_start_is_given_up_with_its_exit_status(tmp_path: Path) -> None:
    broken = Program(
        name="broken",
        kind="latency",
        argv=(sys.executable, "-c", "raise SystemExit(3)"),
        env={},
        ports=(),
        health_url="http://127.0.0.1:9/never",
        priority=5,
    )
    config = _small_config(tmp_path / "state", extra=(broken,))
    with pytest.raises(StackNotHealthyError) as raised:
        start_native(config, timeout_s=60)
    message = str(raised.value)
    assert "broken exited" in message
    # One first start and START_RETRIES retries, all too short, then FATAL.
    assert f"broken exited unexpectedly {START_RETRIES + 1} times; supervisord gave up" in message
    assert "last: exit status 3" in message
    assert processes_of(config.state_dir) == []


def test_a_program_that_keeps_dying_after_it_started_is_stopped_by_the_cap(
    tmp_path: Path,
) -> None:
    """Up longer than START_SECS each time, so never FATAL: the restart cap stops it."""
    config = _small_config(tmp_path / "state")
    crashy = Program(
        name="crashy",
        kind="latency",
        argv=(
            sys.executable,
            "-c",
            f"import time; time.sleep({START_SECS + 1}); raise SystemExit(1)",
        ),
        env={},
        ports=(),
        health_url=config.program("latency").health_url,  # healthy while the stack is
        priority=5,
    )
    config = start_native(dataclasses.replace(config, programs=(*config.programs, crashy)))
    try:
        deadline = time.monotonic() + CAP_EXITS * (START_SECS + 4) + 30
        while program_states(config.state_dir)["crashy"][0] != "STOPPED":
            assert time.monotonic() < deadline, program_states(config.state_dir)["crashy"]
            time.sleep(POLL_S)
        time.sleep(START_SECS)  # long enough for a restart to show
        assert program_states(config.state_dir)["crashy"][0] == "STOPPED"
        status = _bench(config, "status").stdout
        line = next(line for line in status.splitlines() if line.startswith("restarts: crashy"))
        assert f"crashy exited unexpectedly {CAP_EXITS} times; supervisord gave up at" in line
        assert (
            f"stopped by the restart cap: it exited {CAP_EXITS} times within {CAP_WINDOW_S} s"
            in line
        )
        assert "last: exit status 1" in line
        assert _serves(config, UVICORN_ROW)  # the others serve on
    finally:
        stop_native(config.state_dir)
    assert processes_of(config.state_dir) == []
