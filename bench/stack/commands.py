"""`bench up|down|status|logs|run-native`: the stack, with docker or native processes."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import paths
from bench.stack import docker
from bench.stack.docker_stack import docker_down, docker_up
from bench.stack.foreground import run_native_foreground
from bench.stack.layout import GRAFANA_PROGRAM, NativeStackConfig, StackError, native_stack_config
from bench.stack.logs import log_dir, log_path, tail_lines
from bench.stack.native import native_restarts, native_status, start_native, stop_native
from bench.stack.record import read_record, record_path

Handler = Callable[[argparse.Namespace], int]
DEFAULT_LOG_LINES = 50
STACK_MODES = ("auto", "native", "docker")


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add this module's subcommands to the `bench` parser."""
    up = subparsers.add_parser(
        "up",
        help="start the stack: docker compose if an engine is reachable, else native processes",
        description="Start the stack in the background. BENCH_STACK=native|docker forces a "
        "mode; BENCH_PORT_OFFSET shifts every native port.",
    )
    up.set_defaults(handler=_guarded(cmd_up))
    down = subparsers.add_parser("down", help="stop exactly what `bench up` started")
    down.set_defaults(handler=_guarded(cmd_down))
    status = subparsers.add_parser("status", help="what runs, with pids, ports and health")
    status.set_defaults(handler=_guarded(cmd_status))
    logs = subparsers.add_parser("logs", help="the last lines of the stack's logs")
    logs.add_argument("program", nargs="?", help="one program (row, latency, prometheus, ...)")
    logs.add_argument(
        "--lines", "-n", type=_positive_int, default=DEFAULT_LOG_LINES, help="lines per program"
    )
    logs.set_defaults(handler=_guarded(cmd_logs))
    run_native = subparsers.add_parser(
        "run-native", help="run the native stack in the foreground (Ctrl-C stops all)"
    )
    run_native.set_defaults(handler=_guarded(cmd_run_native))


def _positive_int(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{raw!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be at least 1")
    return value


def _guarded(handler: Handler) -> Handler:
    """Turn the stack's own errors into a clear message and exit code 1."""

    def run(args: argparse.Namespace) -> int:
        try:
            code = handler(args)
        except StackError as error:
            print(f"bench {args.command}: {error}", file=sys.stderr)
            return 1
        return code

    return run


def _state_dir() -> Path:
    return paths.state_dir().resolve()


def _stack_mode() -> str:
    mode = os.environ.get("BENCH_STACK", "auto").strip() or "auto"
    if mode not in STACK_MODES:
        raise StackError(f"BENCH_STACK={mode!r} must be one of {', '.join(STACK_MODES)}")
    return mode


def cmd_up(args: argparse.Namespace) -> int:
    state_dir = _state_dir()
    record = read_record(state_dir)
    if record is not None and record.mode == "docker":
        raise StackError(
            f"the docker stack is already up (recorded in {record_path(state_dir)}): "
            "`bench down` stops it"
        )
    mode = _stack_mode()
    if mode != "native":
        engine = docker.docker_engine()
        if engine.reachable:
            return docker_up(state_dir)
        if mode == "docker":
            raise StackError(
                f"BENCH_STACK=docker but no Docker engine is reachable: {engine.reason}"
            )
        print(
            f"No Docker engine reachable ({engine.reason}): starting the native stack "
            "(local processes under supervisord) instead."
        )
    else:
        print("BENCH_STACK=native: starting the native stack (local processes under supervisord).")
    config = native_stack_config(state_dir=state_dir)
    print(f"Waiting until every program is healthy (state and logs in {config.state_dir}) ...")
    start_native(config)
    print("The native stack is up.")
    print_native_summary(config)
    return 0


def print_native_summary(config: NativeStackConfig) -> None:
    """The URLs of everything that runs, then what could not start and how to get it."""
    if config.has(GRAFANA_PROGRAM):
        print(f"  {'Grafana':<17} {config.grafana_url}  (anonymous viewer; admin user: admin)")
    if config.has("prometheus"):
        print(f"  {'Prometheus':<17} {config.prometheus_url}")
    print(f"  {'latency service':<17} {config.latency_url}")
    if config.database is not None and config.database.missing is None:
        owner = "BENCH_DATABASE_URL" if config.database.external else "seeded, in the state dir"
        print(f"  {'PostgreSQL':<17} {config.database.url}  ({owner})")
    for row in config.rows:
        print(
            f"  {row.name:<17} {config.row_url(row.name)}  "
            f"metrics {config.row_metrics_url(row.name)}"
        )
    for notice in config.notices:
        print(notice)
    if config.missing:
        print("Not started:")
        for missing in config.missing:
            print(f"  {missing.name.capitalize()}: {missing.reason}")
    print("`make status` shows health, `make logs` the logs, `make down` stops everything.")


def cmd_down(args: argparse.Namespace) -> int:
    state_dir = _state_dir()
    record = read_record(state_dir)
    if record is not None and record.mode == "docker":
        engine = docker.docker_engine()
        if not engine.reachable:
            raise StackError(
                f"the docker stack was started from here but no Docker engine is reachable "
                f"({engine.reason}); if it is gone, remove {record_path(state_dir)}"
            )
        return docker_down(state_dir, recorded=True)
    if _docker_stack_left_behind():
        return docker_down(state_dir, recorded=False)
    stopped = stop_native(state_dir)
    if stopped is None:
        print(f"Nothing to stop: no stack started from {state_dir} is running.")
        return 0
    print(f"Stopped the native stack: {', '.join(stopped)}.")
    return 0


def _docker_stack_left_behind() -> bool:
    """Whether containers of the compose project run without a record (an older `up`)."""
    if _stack_mode() == "native" or not docker.docker_engine().reachable:
        return False
    try:
        return bool(docker.project_containers())
    except StackError as error:
        print(f"Could not ask docker compose for the project's containers ({error}).")
        return False


def cmd_status(args: argparse.Namespace) -> int:
    state_dir = _state_dir()
    record = read_record(state_dir)
    if record is not None and record.mode == "docker":
        return docker.compose("ps")
    statuses = native_status(state_dir)
    if statuses is None:
        print(f"Nothing is running (no stack started from {state_dir}). `make up` starts it.")
        return 0
    print(f"{'PROGRAM':<17} {'STATE':<9} {'PID':>7}  {'PORTS':<12} HEALTHY")
    for status in statuses:
        pid = str(status.pid) if status.pid else "-"
        ports = ",".join(str(port) for port in status.ports)
        healthy = "yes" if status.healthy else "NO"
        print(f"{status.name:<17} {status.state:<9} {pid:>7}  {ports:<12} {healthy}")
    for restarted in native_restarts(state_dir).values():
        print(f"restarts: {restarted.summary()}")
    return 0 if all(status.healthy for status in statuses) else 1


def cmd_logs(args: argparse.Namespace) -> int:
    state_dir = _state_dir()
    record = read_record(state_dir)
    if record is not None and record.mode == "docker":
        return docker.compose("logs", "--tail", str(args.lines), *filter(None, [args.program]))
    known = sorted(path.stem for path in log_dir(state_dir).glob("*.log"))
    if not known:
        print(f"No logs yet in {log_dir(state_dir)}: `make up` starts the stack.")
        return 0
    if args.program is not None and args.program not in known:
        raise StackError(f"no log for {args.program!r}; programs with logs: {', '.join(known)}")
    exits = native_restarts(state_dir)
    for program in [args.program] if args.program else known:
        path = log_path(state_dir, program)
        print(f"==> {program} ({path}) <==")
        if program in exits:
            print(f"[supervisord] {exits[program].summary()}")
        for line in tail_lines(path, args.lines):
            print(line)
    return 0


def cmd_run_native(args: argparse.Namespace) -> int:
    config = native_stack_config(state_dir=_state_dir())
    print(
        "Starting the native stack in the foreground (supervisord; Ctrl-C stops everything). "
        f"Logs in {config.log_dir}."
    )

    def ready(config: NativeStackConfig) -> None:
        print("The native stack is up.")
        print_native_summary(config)

    code = run_native_foreground(config, on_ready=ready)
    print("The native stack has stopped.")
    return code
