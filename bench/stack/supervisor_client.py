"""Talk to the native stack's supervisord: find it, call its API, start it.

supervisord is found only through the state directory (its pidfile, checked
against the process's command line) and called only through the control
socket there, so nothing here can reach another supervisord.
"""

from __future__ import annotations

import http.client
import os
import sys
import xmlrpc.client
from pathlib import Path

import psutil
from supervisor.xmlrpc import SupervisorTransport

from bench.stack.supervisor_conf import config_path, pidfile_path, socket_path

# The caller's BENCH_*/Grafana settings must not leak into the programs: each
# one runs with exactly the environment the stack config gives it.
_PRIVATE_ENV_PREFIXES = ("BENCH_", "GF_", "PROMETHEUS_MULTIPROC_DIR")


def supervisord_binary() -> Path:
    return Path(sys.executable).parent / "supervisord"


# What a call can raise while supervisord starts, stops or is gone.
RPC_ERRORS = (OSError, xmlrpc.client.Error, http.client.HTTPException)


def supervisor_rpc(state_dir: Path) -> xmlrpc.client.ServerProxy:
    """supervisord's XML-RPC API over the state directory's unix socket.

    A new proxy per call, closed after it (``with``): the transport keeps one
    connection, which a failed call (supervisord still starting) leaves unusable.
    """
    transport = SupervisorTransport(None, None, f"unix://{socket_path(state_dir)}")
    # The URL is a placeholder: the transport always talks to the unix socket.
    return xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport)


def running_supervisord(state_dir: Path) -> psutil.Process | None:
    """The supervisord started from ``state_dir``, if it is still running."""
    try:
        pid = int(pidfile_path(state_dir).read_text().strip())
        process = psutil.Process(pid)
        cmdline = process.cmdline()
        if process.status() == psutil.STATUS_ZOMBIE:
            return None
    except (OSError, ValueError, psutil.Error):
        return None
    # A stale pidfile may name a reused pid: only our supervisord counts.
    ours = any("supervisord" in part for part in cmdline) and str(config_path(state_dir)) in cmdline
    return process if ours else None


def supervisord_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(_PRIVATE_ENV_PREFIXES)}


def program_states(state_dir: Path) -> dict[str, tuple[str, int]]:
    """Program name -> (state name, pid); empty while supervisord is not answering."""
    try:
        with supervisor_rpc(state_dir) as rpc:  # closes the socket it opened
            infos = rpc.supervisor.getAllProcessInfo()
    except RPC_ERRORS:
        return {}
    assert isinstance(infos, list)
    return {info["name"]: (info["statename"], int(info["pid"]) or 0) for info in infos}


def processes_of(state_dir: Path) -> list[psutil.Process]:
    """Every live process started by this state directory's supervisord, orphans too.

    supervisord puts its control socket's URL into each program's environment,
    and every process a program forks inherits it: so a worker whose master was
    killed is still found here, after it has left supervisord's process tree.
    """
    url = f"unix://{socket_path(state_dir)}"
    found = []
    for process in psutil.process_iter():
        try:
            if process.environ().get("SUPERVISOR_SERVER_URL") == url:
                found.append(process)
        except psutil.Error:
            continue  # gone, a zombie, or another user's: not ours
    return found
