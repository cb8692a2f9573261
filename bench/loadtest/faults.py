"""Signal a row's server in the native stack mid-run, and see supervisord start a new one.

The server process is the one supervisord runs for the row (a gunicorn
master, uvicorn, Granian's main process): the process an operator's
`kill`, a deploy's rolling restart or the OOM killer would hit. Its pid
comes from this state directory's supervisord only, so nothing else on the
machine can be signalled.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from bench.stack.native import is_healthy
from bench.stack.record import read_record
from bench.stack.supervisor_client import program_states

RESPAWN_TIMEOUT_S = 30.0
POLL_S = 0.05


class FaultUsageError(RuntimeError):
    """The stack cannot be faulted from here: not the native stack, or the row is not in it."""


def checked_native_row(state_dir: Path, row: str) -> int:
    """The pid of ``row``'s server in the native stack started from ``state_dir``."""
    record = read_record(state_dir)
    if record is None or record.mode != "native":
        where = "the docker stack" if record is not None else "no stack"
        raise FaultUsageError(
            f"the restart scenario signals the row's server through the native stack's "
            f"supervisord, and {state_dir} records {where}: start the native stack "
            "(BENCH_STACK=native make up, or make run-native)"
        )
    state, pid = program_states(state_dir).get(row, ("", 0))
    if state == "STARTING":
        # Healthy but younger than supervisord's startsecs (just started, or
        # just restarted): it counts as up once it has stayed up that long.
        wait_until_running(state_dir, row)
        state, pid = program_states(state_dir).get(row, ("", 0))
    if state != "RUNNING" or not pid:
        raise FaultUsageError(
            f"{row} is not RUNNING in the native stack ({state or 'not in it'}): "
            "`make status` shows what runs"
        )
    return pid


@dataclass
class FaultRecord:
    signal: str
    old_pid: int
    sent_at: float | None = None  # Unix time the signal was sent
    new_pid: int | None = None
    respawned_after_s: float | None = None  # signal to a new pid in supervisord
    error: str | None = None


class FaultInjector(threading.Thread):
    """After ``delay_s``, send ``sig`` to the row's server; then wait for its new pid."""

    def __init__(self, state_dir: Path, row: str, sig: signal.Signals, delay_s: float) -> None:
        super().__init__(name=f"fault-{row}-{sig.name}", daemon=True)
        self.state_dir = state_dir
        self.row = row
        self.sig = sig
        self.delay_s = delay_s
        self.record = FaultRecord(sig.name, checked_native_row(state_dir, row))
        self._cancelled = threading.Event()

    def run(self) -> None:
        if self._cancelled.wait(self.delay_s):
            self.record.error = "the load ended before the fault was due"
            return
        try:
            os.kill(self.record.old_pid, self.sig)
        except OSError as error:
            self.record.error = f"could not signal pid {self.record.old_pid}: {error}"
            return
        self.record.sent_at = time.time()
        deadline = time.monotonic() + RESPAWN_TIMEOUT_S
        while time.monotonic() < deadline:
            _, pid = program_states(self.state_dir).get(self.row, ("", 0))
            if pid and pid != self.record.old_pid:
                self.record.new_pid = pid
                self.record.respawned_after_s = time.time() - self.record.sent_at
                return
            time.sleep(POLL_S)
        self.record.error = f"supervisord started no new {self.row} within {RESPAWN_TIMEOUT_S} s"

    def finish(self) -> FaultRecord:
        """Cancel the fault if it is not sent yet (the load is over); what happened."""
        self._cancelled.set()
        self.join(timeout=RESPAWN_TIMEOUT_S + 1)
        return self.record


def wait_until_running(state_dir: Path, row: str, timeout_s: float = RESPAWN_TIMEOUT_S) -> bool:
    """Whether supervisord says RUNNING for ``row`` within ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if program_states(state_dir).get(row, ("", 0))[0] == "RUNNING":
            return True
        time.sleep(POLL_S * 4)
    return False


def wait_until_healthy(url: str, timeout_s: float = RESPAWN_TIMEOUT_S) -> bool:
    """Whether ``url`` answers 200 within ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if is_healthy(url):
            return True
        time.sleep(POLL_S * 4)
    return False
