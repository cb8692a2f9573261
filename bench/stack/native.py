"""Start, watch and stop the native stack, kept by supervisord.

Everything lives in the state directory: the generated supervisord.conf and
prometheus.yml, supervisord's pidfile and control socket, one log per program
and the record of what was started. Stopping only ever touches supervisord's
own process tree, found from that pidfile.
"""

from __future__ import annotations

import contextlib
import subprocess
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil

from bench import paths
from bench.atomic import write_text_atomically
from bench.postgres import PostgresError
from bench.procs import LOOPBACK
from bench.stack.database import start_database, stop_database
from bench.stack.layout import (
    PROMETHEUS_PROGRAM,
    NativeStackConfig,
    StackError,
    native_stack_config,
    port_is_free,
    prometheus_targets,
)
from bench.stack.logs import tail_lines
from bench.stack.prometheus_config import PrometheusConfigError, write_native_prometheus_config
from bench.stack.record import StackRecord, read_record, remove_record, write_record
from bench.stack.restarts import ProgramRestarts, restarts
from bench.stack.supervisor_client import (
    RPC_ERRORS,
    processes_of,
    program_states,
    running_supervisord,
    supervisor_rpc,
    supervisord_binary,
    supervisord_env,
)
from bench.stack.supervisor_conf import (
    config_path,
    pidfile_path,
    render_supervisord_conf,
    socket_path,
)

STARTUP_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0
SUPERVISORD_START_TIMEOUT_S = 15.0
POLL_INTERVAL_S = 0.25
LOG_TAIL_LINES = 15
PROMETHEUS_SOURCE = paths.PROMETHEUS_DIR / "prometheus.yml"
# Only FATAL is final: EXITED and BACKOFF are followed by a restart, and a
# program not started yet reads STOPPED.
_FAILED_STATES = {"FATAL"}


class StackAlreadyUpError(StackError):
    """A stack from this state directory is already running."""


class PortInUseError(StackError):
    """Something else listens on a port the stack needs."""


class StackNotHealthyError(StackError):
    """A program exited or did not answer its health check in time."""


@dataclass(frozen=True)
class ProgramStatus:
    name: str
    state: str  # supervisord's state name: RUNNING, STARTING, BACKOFF, FATAL, ...
    pid: int | None
    ports: tuple[int, ...]
    healthy: bool


def refuse_to_start(config: NativeStackConfig) -> None:
    """Raise if this stack is already up or any of its ports is taken."""
    supervisord = running_supervisord(config.state_dir)
    if supervisord is not None:
        raise StackAlreadyUpError(
            f"the native stack is already up (supervisord pid {supervisord.pid}, state in "
            f"{config.state_dir}): `bench status` shows it, `bench down` stops it"
        )
    taken = [
        f"{port} ({program.name})"
        for program in config.programs
        for port in program.ports
        if not port_is_free(port)
    ]
    if taken:
        raise PortInUseError(
            f"port(s) already in use on {LOOPBACK}: {', '.join(taken)}. Stop whatever "
            "listens there, or shift every port with BENCH_PORT_OFFSET (e.g. 10000)"
        )


def prepare(config: NativeStackConfig, *, foreground: bool) -> Path:
    """Write the generated configs into the state directory; return supervisord.conf."""
    config.log_dir.mkdir(parents=True, exist_ok=True)
    for program in config.programs:
        if "PROMETHEUS_MULTIPROC_DIR" in program.env:
            Path(program.env["PROMETHEUS_MULTIPROC_DIR"]).mkdir(parents=True, exist_ok=True)
    if config.has(PROMETHEUS_PROGRAM):
        if not PROMETHEUS_SOURCE.is_file():
            raise StackError(f"{PROMETHEUS_SOURCE} is missing: the stack has no scrape config")
        try:
            write_native_prometheus_config(
                PROMETHEUS_SOURCE, config.prometheus_config_path, prometheus_targets(config.offset)
            )
        except PrometheusConfigError as error:
            raise StackError(str(error)) from None
    conf = config_path(config.state_dir)
    write_text_atomically(conf, render_supervisord_conf(config, foreground=foreground))
    return conf


def start_native(
    config: NativeStackConfig | None = None, timeout_s: float = STARTUP_TIMEOUT_S
) -> NativeStackConfig:
    """Start the stack daemonised and return once every program is healthy.

    Refuses (StackAlreadyUpError, PortInUseError) before starting anything; if
    a program fails or stays unhealthy, stops everything again and raises
    StackNotHealthyError with the end of the failing program's log.
    """
    config = config or native_stack_config()
    refuse_to_start(config)
    conf = prepare(config, foreground=False)
    start_stack_database(config)
    startup_log = config.state_dir / "supervisord.startup.log"
    with startup_log.open("wb") as log:
        # supervisord forks into the background and this first process exits.
        result = subprocess.run(
            [str(supervisord_binary()), "-c", str(conf)],
            env=supervisord_env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            timeout=SUPERVISORD_START_TIMEOUT_S,
            check=False,
        )
    if result.returncode != 0:
        stop_database(config.state_dir)
        raise StackError(f"supervisord did not start:\n{startup_log.read_text()}")
    write_record(config.state_dir, StackRecord.for_native(config))
    try:
        wait_until_healthy(config, timeout_s)
    except BaseException:
        stop_native(config.state_dir)
        raise
    return config


def start_stack_database(config: NativeStackConfig) -> None:
    """The rows' PostgreSQL, before the rows (they connect on their first /db/ request)."""
    if config.database is None:
        return
    try:
        start_database(config.database, config.state_dir)
    except PostgresError as error:
        stop_database(config.state_dir)
        raise StackError(f"the native stack's database did not come up: {error}") from None


def wait_until_healthy(
    config: NativeStackConfig,
    timeout_s: float = STARTUP_TIMEOUT_S,
    supervisord: subprocess.Popen[bytes] | None = None,
) -> None:
    """Poll every program's health URL until all answer; fail fast on a dead program."""
    deadline = time.monotonic() + timeout_s
    pending = {program.name: program for program in config.programs}
    while pending:
        if supervisord is not None and supervisord.poll() is not None:
            raise StackError(f"supervisord exited with {supervisord.returncode}")
        states = program_states(config.state_dir)
        failed = [name for name in pending if states.get(name, ("", 0))[0] in _FAILED_STATES]
        if failed:
            raise StackNotHealthyError(_diagnosis(config, failed, "exited"))
        for name in [name for name, program in pending.items() if is_healthy(program.health_url)]:
            del pending[name]
        if pending and time.monotonic() > deadline:
            reason = f"not healthy after {timeout_s:.0f} s"
            raise StackNotHealthyError(_diagnosis(config, list(pending), reason))
        if pending:
            time.sleep(POLL_INTERVAL_S)


def is_healthy(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False


def _diagnosis(config: NativeStackConfig, names: Iterable[str], reason: str) -> str:
    parts = [f"the native stack did not come up: {', '.join(names)} {reason}."]
    exits = restarts(config.state_dir)
    for name in names:
        if name in exits:
            parts.append(f"  supervisord: {exits[name].summary()}")
        log = config.log_dir / f"{name}.log"
        tail = "\n".join(f"    {line}" for line in tail_lines(log, LOG_TAIL_LINES))
        parts.append(f"  last lines of {log}:\n{tail or '    (empty)'}")
    parts.append("  everything that was started has been stopped again.")
    return "\n".join(parts)


def native_status(state_dir: Path | None = None) -> list[ProgramStatus] | None:
    """Every program of the running native stack, None if it is not running."""
    state_dir = (state_dir or paths.state_dir()).resolve()
    record = read_record(state_dir)
    if record is None or record.mode != "native" or running_supervisord(state_dir) is None:
        return None
    states = program_states(state_dir)
    return [
        ProgramStatus(
            name=program.name,
            state=states.get(program.name, ("UNKNOWN", 0))[0],
            pid=states.get(program.name, ("", 0))[1] or None,
            ports=tuple(program.ports),
            healthy=is_healthy(program.health_url),
        )
        for program in record.programs
    ]


def native_restarts(state_dir: Path | None = None) -> dict[str, ProgramRestarts]:
    """What supervisord restarted or gave up on in the running stack (or its last run)."""
    state_dir = (state_dir or paths.state_dir()).resolve()
    supervisord = running_supervisord(state_dir)
    return restarts(state_dir, supervisord.pid if supervisord else None)


def stop_native(
    state_dir: Path | None = None, timeout_s: float = STOP_TIMEOUT_S
) -> list[str] | None:
    """Stop the stack started from ``state_dir``; return its program names, None if none ran.

    Asks supervisord to shut down (it stops each program's process group),
    stops what a crashed program left behind (found by the control socket
    supervisord put in its environment), then waits until supervisord and every
    process it had started are gone, killing any that outlive ``timeout_s``.
    Nothing else is touched.
    """
    state_dir = (state_dir or paths.state_dir()).resolve()
    supervisord = running_supervisord(state_dir)
    if supervisord is None:
        stop_database(state_dir)
        forget(state_dir)
        return None
    record = read_record(state_dir)
    names = record.program_names() if record else []
    tree = [supervisord, *_descendants(supervisord)]
    # Left behind by a program that crashed (a killed master's workers, say):
    # supervisord no longer knows them, so they are stopped here.
    strays = [process for process in processes_of(state_dir) if process not in tree]
    try:
        with supervisor_rpc(state_dir) as rpc:
            rpc.supervisor.shutdown()
    except RPC_ERRORS:
        supervisord.terminate()
    for process in strays:
        with contextlib.suppress(psutil.Error):
            process.terminate()
    ours = tree + strays
    survivors = _wait_gone(ours, timeout_s)
    for process in survivors:
        with contextlib.suppress(psutil.Error):
            process.kill()
    _wait_gone(survivors, 5.0)
    stop_database(state_dir)  # after the rows: nothing is connected any more
    forget(state_dir)
    return names


def _descendants(process: psutil.Process) -> list[psutil.Process]:
    try:
        return process.children(recursive=True)
    except psutil.Error:
        return []


def _wait_gone(processes: list[psutil.Process], timeout_s: float) -> list[psutil.Process]:
    """Wait until ``processes`` have exited; return those still running after the timeout."""
    deadline = time.monotonic() + timeout_s
    alive = list(processes)
    while alive and time.monotonic() < deadline:
        alive = [process for process in alive if is_alive(process)]
        if alive:
            time.sleep(POLL_INTERVAL_S)
    return [process for process in alive if is_alive(process)]


def is_alive(process: psutil.Process) -> bool:
    """Running and not a zombie (a zombie is gone; it only waits for its parent to reap it)."""
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def forget(state_dir: Path) -> None:
    """Remove what describes a running stack once nothing runs any more."""
    remove_record(state_dir)
    pidfile_path(state_dir).unlink(missing_ok=True)
    socket_path(state_dir).unlink(missing_ok=True)


@contextlib.contextmanager
def running_native_stack(
    offset: int, state_dir: Path, timeout_s: float = STARTUP_TIMEOUT_S
) -> Iterator[NativeStackConfig]:
    """The native stack (daemonised) for the duration of a block; always stopped."""
    config = start_native(native_stack_config(offset=offset, state_dir=state_dir), timeout_s)
    try:
        yield config
    finally:
        stop_native(config.state_dir)
