"""What the native stack runs, on which ports, with which environment.

A description: nothing is started here, so the same answer can be printed,
tested and handed to the supervisor. The one file it may write is Grafana's
admin password, the first time a Grafana installation needs one.
"""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from bench import paths
from bench.procs import LOOPBACK
from bench.prometheus import PrometheusNotFoundError, prometheus_argv
from bench.stack.database import DATABASE_PROGRAM, DatabasePlan, database_plan
from bench.stack.grafana import (
    GrafanaInstall,
    GrafanaNotFoundError,
    ensure_admin_password,
    find_grafana,
    grafana_env,
)
from bench.stack.knobs import KnobError, knob_values, row_bench_env
from bench.stack.logs import log_dir
from services.rows import LATENCY_SERVICE_PORT, ROWS, Row
from services.settings import DEFAULT_DATABASE_PORT, SettingsError, launch_env

ProgramKind = Literal["row", "latency", "prometheus", "grafana"]

PROMETHEUS_PORT = 9090
GRAFANA_PORT = 3000
MAX_PORT = 65535
LATENCY_PROGRAM = "latency"
PROMETHEUS_PROGRAM = "prometheus"
GRAFANA_PROGRAM = "grafana"
# Start order: the latency service, the rows one by one, Prometheus, Grafana.
# Derived from the row count, so any number of rows starts before Prometheus.
ROW_PRIORITY = 20
PROMETHEUS_PRIORITY = ROW_PRIORITY + len(ROWS) + 10
GRAFANA_PRIORITY = PROMETHEUS_PRIORITY + 10


class StackError(RuntimeError):
    """The stack cannot do what was asked; the message says why and what to do."""


@dataclass(frozen=True)
class Program:
    """One supervised process of the native stack."""

    name: str
    kind: ProgramKind
    argv: tuple[str, ...]
    env: Mapping[str, str]
    ports: tuple[int, ...]
    health_url: str
    # Started after programs with a lower priority and stopped before them.
    priority: int


@dataclass(frozen=True)
class Missing:
    """A part of the stack that cannot run here, and how to get it."""

    name: str
    reason: str


@dataclass(frozen=True)
class NativeStackConfig:
    """Every program of the native stack, plus what it cannot start."""

    state_dir: Path
    offset: int
    programs: tuple[Program, ...]
    missing: tuple[Missing, ...] = field(default=())
    # Things to tell the user once at startup (e.g. where the Grafana password is).
    notices: tuple[str, ...] = field(default=())
    # The rows' PostgreSQL (bench/stack/database.py): started before them.
    database: DatabasePlan | None = None

    @property
    def log_dir(self) -> Path:
        return log_dir(self.state_dir)

    def program(self, name: str) -> Program:
        for program in self.programs:
            if program.name == name:
                return program
        raise KeyError(name)

    def has(self, name: str) -> bool:
        return any(program.name == name for program in self.programs)

    @property
    def rows(self) -> tuple[Program, ...]:
        return tuple(program for program in self.programs if program.kind == "row")

    @property
    def prometheus_url(self) -> str:
        return f"http://{LOOPBACK}:{PROMETHEUS_PORT + self.offset}"

    @property
    def grafana_url(self) -> str:
        return f"http://{LOOPBACK}:{GRAFANA_PORT + self.offset}"

    @property
    def latency_url(self) -> str:
        return f"http://{LOOPBACK}:{LATENCY_SERVICE_PORT + self.offset}"

    def row_url(self, row: str) -> str:
        return f"http://{LOOPBACK}:{self.program(row).ports[0]}"

    def row_metrics_url(self, row: str) -> str:
        return f"http://{LOOPBACK}:{self.program(row).ports[1]}/metrics"

    @property
    def prometheus_config_path(self) -> Path:
        return self.state_dir / "prometheus.yml"


def port_offset(env: Mapping[str, str] | None = None) -> int:
    """BENCH_PORT_OFFSET (default 0): shifts every native port by the same amount."""
    raw = (os.environ if env is None else env).get("BENCH_PORT_OFFSET", "").strip() or "0"
    try:
        offset = int(raw)
    except ValueError:
        raise StackError(f"BENCH_PORT_OFFSET={raw!r} is not an integer") from None
    highest = max(PROMETHEUS_PORT, *(row.metrics_port for row in ROWS))
    if not 0 <= offset <= MAX_PORT - highest:
        raise StackError(f"BENCH_PORT_OFFSET={offset} must be between 0 and {MAX_PORT - highest}")
    return offset


def prometheus_targets(offset: int) -> dict[str, str]:
    """Compose scrape addresses mapped to where the native processes listen."""
    targets = {
        f"{row.name}:{row.metrics_port}": f"{LOOPBACK}:{row.metrics_port + offset}" for row in ROWS
    }
    targets[f"{LATENCY_PROGRAM}:{LATENCY_SERVICE_PORT}"] = (
        f"{LOOPBACK}:{LATENCY_SERVICE_PORT + offset}"
    )
    for host in (PROMETHEUS_PROGRAM, "localhost", LOOPBACK):
        targets[f"{host}:{PROMETHEUS_PORT}"] = f"{LOOPBACK}:{PROMETHEUS_PORT + offset}"
    targets[f"{GRAFANA_PROGRAM}:{GRAFANA_PORT}"] = f"{LOOPBACK}:{GRAFANA_PORT + offset}"
    return targets


def sab_serve() -> str:
    """The `sab-serve` of this interpreter's environment (the project's venv)."""
    return str(Path(sys.executable).parent / "sab-serve")


def checked_row_env(row: Row, knobs: Mapping[str, str], base: Mapping[str, str]) -> dict[str, str]:
    """The environment that starts the row: ``base`` settings plus its knobs, checked
    and resolved as the row itself will read them (services.settings.launch_env).

    Both modes call this before anything starts, so a bad knob is one clear
    message naming the variable, not a row that restarts forever.
    """
    try:
        return launch_env(row.name, {**base, **row_bench_env(row, knobs)})
    except (KnobError, SettingsError) as error:
        raise StackError(f"{row.name}: {error} (row knobs: .env, docs/stack.md)") from None


def check_row_knobs(knobs: Mapping[str, str]) -> None:
    """Raise StackError for the first row knob in ``knobs`` that its row cannot use."""
    for row in ROWS:
        checked_row_env(row, knobs, {})


# Database knobs shared by every row, passed through from the environment or .env.
DATABASE_KNOBS = (
    "BENCH_DB_POOL", "BENCH_DB_WAIT_MS", "BENCH_DB_STATEMENT_TIMEOUT_MS", "BENCH_DB_DRIVER",
)  # fmt: skip


def row_programs(
    offset: int, state_dir: Path, knobs: Mapping[str, str], database_url: str = ""
) -> list[Program]:
    """One program per row, running exactly the row's container command."""
    latency_url = f"http://{LOOPBACK}:{LATENCY_SERVICE_PORT + offset}"
    database = {name: knobs[name] for name in DATABASE_KNOBS if knobs.get(name, "").strip()}
    if database_url:
        database["BENCH_DATABASE_URL"] = database_url
    programs = []
    for priority, row in enumerate(ROWS, start=ROW_PRIORITY):
        port, metrics_port = row.port + offset, row.metrics_port + offset
        settings = {
            "BENCH_HOST": LOOPBACK,
            "BENCH_PORT": str(port),
            "BENCH_METRICS_PORT": str(metrics_port),
            "BENCH_LATENCY_URL": latency_url,
            "BENCH_INSTRUMENTATION": "on",
            # Inside the state directory rather than the shared /tmp default,
            # so two stacks (a test beside the user's) never mix their files.
            # Only multiprocess servers keep it (services/servers).
            "PROMETHEUS_MULTIPROC_DIR": str(state_dir / "metrics" / row.name),
            **database,
        }
        env = checked_row_env(row, knobs, settings)
        programs.append(
            Program(
                name=row.name,
                kind="row",
                argv=(sab_serve(), row.name),
                env=env,
                ports=(port, metrics_port),
                health_url=f"http://{LOOPBACK}:{port}/health",
                priority=priority,
            )
        )
    return programs


def latency_program(offset: int) -> Program:
    port = LATENCY_SERVICE_PORT + offset
    return Program(
        name=LATENCY_PROGRAM,
        kind="latency",
        argv=(sab_serve(), "latency"),
        env={"BENCH_HOST": LOOPBACK, "BENCH_LATENCY_PORT": str(port)},
        ports=(port,),
        health_url=f"http://{LOOPBACK}:{port}/health",
        priority=10,
    )


def prometheus_program(offset: int, state_dir: Path) -> Program | Missing:
    """Prometheus with the compose config translated for native processes."""
    try:
        argv = prometheus_argv(
            state_dir / "prometheus.yml",
            state_dir / "prometheus-data",
            PROMETHEUS_PORT + offset,
        )
    except PrometheusNotFoundError as error:
        return Missing(PROMETHEUS_PROGRAM, str(error))
    url = f"http://{LOOPBACK}:{PROMETHEUS_PORT + offset}"
    return Program(
        name=PROMETHEUS_PROGRAM,
        kind="prometheus",
        argv=tuple(argv),
        env={},
        ports=(PROMETHEUS_PORT + offset,),
        health_url=f"{url}/-/ready",
        priority=PROMETHEUS_PRIORITY,
    )


def grafana_program(
    grafana: GrafanaInstall, offset: int, state_dir: Path, password_file: Path
) -> Program:
    port = GRAFANA_PORT + offset
    prometheus_url = f"http://{LOOPBACK}:{PROMETHEUS_PORT + offset}"
    return Program(
        name=GRAFANA_PROGRAM,
        kind="grafana",
        argv=tuple(grafana.argv()),
        env=grafana_env(state_dir, port, prometheus_url, password_file),
        ports=(port,),
        health_url=f"http://{LOOPBACK}:{port}/api/health",
        priority=GRAFANA_PRIORITY,
    )


def native_stack_config(
    offset: int | None = None,
    state_dir: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> NativeStackConfig:
    """The native stack for this machine: rows, latency service, Prometheus, Grafana.

    ``offset`` defaults to BENCH_PORT_OFFSET, ``state_dir`` to bench.paths.state_dir(),
    row knobs come from ``env`` (default os.environ) over the repository's .env.
    Prometheus and Grafana are included when their binaries are found; otherwise
    they are listed in ``missing`` with the reason. Grafana's admin password is
    generated (and kept in the state directory) the first time it is needed.
    """
    environ = os.environ if env is None else env
    offset = port_offset(environ) if offset is None else offset
    state_dir = (state_dir or paths.state_dir()).resolve()
    database = database_plan(offset, environ)
    knobs = knob_values(environ)
    programs = [latency_program(offset), *row_programs(offset, state_dir, knobs, database.url)]
    missing: list[Missing] = []
    if database.missing is not None:
        missing.append(Missing(DATABASE_PROGRAM, database.missing))
    notices: list[str] = []
    prometheus = prometheus_program(offset, state_dir)
    if isinstance(prometheus, Missing):
        missing.append(prometheus)
    else:
        programs.append(prometheus)
    try:
        grafana = find_grafana(environ)
    except GrafanaNotFoundError as error:
        missing.append(Missing(GRAFANA_PROGRAM, str(error)))
    else:
        password = ensure_admin_password(state_dir, environ)
        programs.append(grafana_program(grafana, offset, state_dir, password.file))
        notices.append(password.notice())
    return NativeStackConfig(
        state_dir, offset, tuple(programs), tuple(missing), tuple(notices), database
    )


def port_is_free(port: int) -> bool:
    """Whether a server could listen on 127.0.0.1:``port`` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # Like the servers themselves: TIME_WAIT leftovers do not count as "taken".
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((LOOPBACK, port))
        except OSError:
            return False
        return True


# Every shifted port stays below 32768, where Linux hands out ephemeral client
# ports, so an outgoing connection cannot take one of them by chance.
OFFSET_CANDIDATES = range(20000, 23500, 250)


def free_port_offset(candidates: range = OFFSET_CANDIDATES) -> int:
    """The first offset in ``candidates`` at which every native port is free now.

    For tests and side-by-side stacks; the ports can still be taken before use.
    """
    ports = [*(row.port for row in ROWS), *(row.metrics_port for row in ROWS)]
    ports += [LATENCY_SERVICE_PORT, PROMETHEUS_PORT, GRAFANA_PORT, DEFAULT_DATABASE_PORT]
    for offset in candidates:
        if all(port_is_free(port + offset) for port in ports):
            return offset
    raise StackError(f"no port offset in {candidates} has every stack port free")
