"""`bench run-native`: the native stack with supervisord in the foreground."""

from __future__ import annotations

import contextlib
import signal
import subprocess
from collections.abc import Callable, Iterator
from types import FrameType

from bench.procs import signal_then_kill
from bench.stack.database import stop_database
from bench.stack.layout import NativeStackConfig, native_stack_config
from bench.stack.native import (
    STARTUP_TIMEOUT_S,
    STOP_TIMEOUT_S,
    forget,
    prepare,
    refuse_to_start,
    start_stack_database,
    wait_until_healthy,
)
from bench.stack.record import StackRecord, write_record
from bench.stack.supervisor_client import supervisord_binary, supervisord_env


def run_native_foreground(
    config: NativeStackConfig | None = None,
    on_ready: Callable[[NativeStackConfig], None] | None = None,
    timeout_s: float = STARTUP_TIMEOUT_S,
) -> int:
    """Run the stack with supervisord in the foreground until Ctrl-C or SIGTERM.

    supervisord stays in the terminal's process group, so Ctrl-C reaches it and
    it stops every program; SIGTERM to this process is forwarded to it.
    """
    config = config or native_stack_config()
    refuse_to_start(config)
    conf = prepare(config, foreground=True)
    start_stack_database(config)
    try:
        supervisord = subprocess.Popen(
            [str(supervisord_binary()), "-c", str(conf)], env=supervisord_env()
        )
    except BaseException:
        stop_database(config.state_dir)
        raise
    write_record(config.state_dir, StackRecord.for_native(config))
    try:
        with _forwarding_sigterm(supervisord):
            wait_until_healthy(config, timeout_s, supervisord)
            if on_ready is not None:
                on_ready(config)
            return supervisord.wait()
    except KeyboardInterrupt:
        # The terminal sent SIGINT to supervisord as well: it is stopping the programs.
        return _wait_or_stop(supervisord)
    except BaseException:
        _wait_or_stop(supervisord, interrupt=True)
        raise
    finally:
        stop_database(config.state_dir)
        forget(config.state_dir)


def _wait_or_stop(process: subprocess.Popen[bytes], *, interrupt: bool = False) -> int:
    if interrupt:
        return signal_then_kill(process, signal.SIGTERM, STOP_TIMEOUT_S)
    try:
        return process.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait()


@contextlib.contextmanager
def _forwarding_sigterm(process: subprocess.Popen[bytes]) -> Iterator[None]:
    def forward(signum: int, frame: FrameType | None) -> None:
        process.send_signal(signal.SIGTERM)

    previous = signal.signal(signal.SIGTERM, forward)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
