"""Render the supervisord configuration of the native stack.

supervisord keeps the processes: it starts them in priority order, writes
one log per program, and stops each program's whole process group (gunicorn
masters and their workers alike) when the stack goes down.
"""

from __future__ import annotations

import configparser
import io
import shlex
import sys
from pathlib import Path

from bench.paths import REPO_ROOT
from bench.stack.layout import NativeStackConfig, Program, StackError
from bench.stack.logs import log_path

# AF_UNIX socket paths are limited to 108 bytes on Linux (104 on macOS).
MAX_SOCKET_PATH = 100
# Longer than gunicorn's graceful timeout (5 s), so workers finish cleanly
# before supervisord escalates to SIGKILL.
STOP_WAIT_S = 15
ROWS_GROUP = "rows"
# A program counts as started once it has stayed up this long; one that
# exits sooner, START_RETRIES times in a row, is given up (FATAL).
START_SECS = 3
START_RETRIES = 3
# One that starts fine but keeps dying is stopped by the restart-cap event
# listener (bench/stack/restart_cap.py) after this many exits in the window.
CAP_EXITS = 5
CAP_WINDOW_S = 300
RESTART_CAP = "restart-cap"


def socket_path(state_dir: Path) -> Path:
    return state_dir / "supervisor.sock"


def pidfile_path(state_dir: Path) -> Path:
    return state_dir / "supervisord.pid"


def supervisord_log_path(state_dir: Path) -> Path:
    """supervisord's own log: every spawn, exit (with code or signal) and give-up."""
    return state_dir / "supervisord.log"


def config_path(state_dir: Path) -> Path:
    return state_dir / "supervisord.conf"


def _escape(value: str) -> str:
    # supervisord expands %(name)s in every value: a literal % must be doubled.
    return value.replace("%", "%%")


def _environment(env: dict[str, str]) -> str:
    for key, value in env.items():
        if '"' in value or "\n" in value:
            raise StackError(f"cannot pass {key}={value!r} through supervisord (quote or newline)")
    return ",".join(f'{key}="{_escape(value)}"' for key, value in env.items())


def _program_section(program: Program, config: NativeStackConfig) -> dict[str, str]:
    section = {
        "command": _escape(shlex.join(program.argv)),
        "directory": _escape(str(REPO_ROOT)),
        "priority": str(program.priority),
        "autostart": "true",
        # Every exit that `bench down` (or supervisorctl stop) did not cause is
        # restarted, whatever its code: a gunicorn master exits 0 on a stray
        # SIGTERM, which "unexpected" would leave down. A program that dies
        # again within START_SECS of each start is retried START_RETRIES times,
        # then left FATAL (a row that cannot start does not loop forever).
        "autorestart": "true",
        "startsecs": str(START_SECS),
        "startretries": str(START_RETRIES),
        "stopsignal": "TERM",
        "stopwaitsecs": str(STOP_WAIT_S),
        "stopasgroup": "true",
        "killasgroup": "true",
        "redirect_stderr": "true",
        "stdout_logfile": _escape(str(config.log_dir / f"{program.name}.log")),
        "stdout_logfile_maxbytes": "10MB",
        "stdout_logfile_backups": "2",
    }
    if program.env:
        section["environment"] = _environment(dict(program.env))
    return section


def _restart_cap_section(config: NativeStackConfig) -> dict[str, str]:
    argv = [sys.executable, "-m", "bench.stack.restart_cap"]
    argv += ["--max", str(CAP_EXITS), "--window", str(CAP_WINDOW_S)]
    return {
        "command": _escape(shlex.join(argv)),
        "directory": _escape(str(REPO_ROOT)),
        "events": "PROCESS_STATE_EXITED",
        "priority": "1",  # up before the programs it watches
        "autostart": "true",
        "autorestart": "true",
        "stopasgroup": "true",
        "killasgroup": "true",
        # stdout is supervisord's event protocol; what it says goes to stderr.
        "stdout_logfile": "NONE",
        "stderr_logfile": _escape(str(log_path(config.state_dir, RESTART_CAP))),
        "stderr_logfile_maxbytes": "1MB",
        "stderr_logfile_backups": "1",
    }


def render_supervisord_conf(config: NativeStackConfig, *, foreground: bool = False) -> str:
    """The supervisord.conf text for ``config`` (daemonised unless ``foreground``)."""
    state_dir = config.state_dir
    socket = socket_path(state_dir)
    if len(str(socket)) > MAX_SOCKET_PATH:
        raise StackError(
            f"state directory path too long for a unix socket ({socket}); "
            "set BENCH_STATE_DIR to a shorter path"
        )
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keep case
    parser["unix_http_server"] = {"file": _escape(str(socket)), "chmod": "0700"}
    parser["supervisord"] = {
        "logfile": _escape(str(supervisord_log_path(state_dir))),
        "pidfile": _escape(str(pidfile_path(state_dir))),
        "childlogdir": _escape(str(config.log_dir)),
        "directory": _escape(str(REPO_ROOT)),
        "identifier": "sync-async-bench",
        "nodaemon": "true" if foreground else "false",
    }
    parser["rpcinterface:supervisor"] = {
        "supervisor.rpcinterface_factory": "supervisor.rpcinterface:make_main_rpcinterface"
    }
    parser["supervisorctl"] = {"serverurl": _escape(f"unix://{socket}")}
    parser[f"eventlistener:{RESTART_CAP}"] = _restart_cap_section(config)
    for program in config.programs:
        parser[f"program:{program.name}"] = _program_section(program, config)
    if config.rows:
        # supervisord stops one group at a time; as one group the rows stop
        # side by side, so `bench down` does not wait for them one by one.
        parser[f"group:{ROWS_GROUP}"] = {
            "programs": ",".join(row.name for row in config.rows),
            "priority": str(min(row.priority for row in config.rows)),
        }
    buffer = io.StringIO()
    buffer.write("; Generated by `bench up` / `bench run-native`: do not edit.\n")
    parser.write(buffer)
    return buffer.getvalue()
