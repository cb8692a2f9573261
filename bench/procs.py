"""Run real server processes on 127.0.0.1 and always stop them.

Used by the benchmark matrix, the overhead benchmark and the tests alike.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil

from services.settings import launch_env

LOOPBACK = "127.0.0.1"
STARTUP_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


def ephemeral_port_range() -> range:
    """Ports the kernel hands out to outgoing connections (and to bind(port 0))."""
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return range(int(low), int(high) + 1)
    except (OSError, ValueError):
        return range(32768, 61000)  # Linux's default


def stable_free_ports(count: int, rng: random.Random | None = None) -> list[int]:
    """Free ports below the ephemeral range, for servers started minutes from now.

    A port from free_port() comes from the ephemeral range: by the time a
    server binds it, a load test's outgoing connections may have taken it.
    """
    rng = rng or random.Random()
    low = 20_000
    high = min(ephemeral_port_range().start, 32_768)
    candidates = rng.sample(range(low, high), k=min(high - low, 2_000))
    found: list[int] = []
    for port in candidates:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind((LOOPBACK, port))
            except OSError:
                continue
        found.append(port)
        if len(found) == count:
            return found
    raise RuntimeError(f"fewer than {count} free ports between {low} and {high}")


def signal_then_kill(process: subprocess.Popen[bytes], signum: int, grace_s: float) -> int:
    """Send ``signum``, wait ``grace_s`` for the process to exit, else SIGKILL; its exit code."""
    if process.poll() is None:
        process.send_signal(signum)
    try:
        return process.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait()


def stop_process_group(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the whole group, then SIGKILL what is left after a grace period."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        process.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=STOP_TIMEOUT_S)
    # Workers may outlive their master by a moment: make sure the group is gone.
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


def pin_to(cpus: frozenset[int] | None) -> Callable[[], None] | None:
    """A preexec_fn that pins the child to ``cpus`` (None: no pinning)."""
    if cpus is None:
        return None

    def pin() -> None:
        os.sched_setaffinity(0, cpus)

    return pin


def wait_until_http_ok(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    """Poll ``url`` until it answers 200; fail with the server log if it never does."""
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} not ready after {STARTUP_TIMEOUT_S} s:\n{log.read_text()}")


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU so far of process ``pid`` and all its descendants."""
    root = psutil.Process(pid)
    total = 0.0
    for process in [root, *root.children(recursive=True)]:
        times = process.cpu_times()
        total += times.user + times.system
    return total


@contextmanager
def running_process(
    argv: list[str],
    env: Mapping[str, str],
    ready_url: str,
    log: Path,
    cpus: frozenset[int] | None = None,
) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``argv`` in its own process group until the block exits, whatever happens.

    ``cpus`` pins it (and every process it forks) to those cores.
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as log_file:
        process = subprocess.Popen(
            argv,
            env=dict(env),
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=pin_to(cpus),  # noqa: PLW1509 - affinity is inherited by forked workers
        )
        try:
            wait_until_http_ok(ready_url, process, log)
            yield process
        finally:
            stop_process_group(process)


def multiproc_dir(workdir: Path, row: str, port: int) -> Path:
    """Where a test or benchmark row keeps its prometheus-client multiprocess files.

    On tmpfs (/dev/shm) when there is one, as prometheus-client recommends:
    on a disk, the workers' mmap writes are flushed back to it continually.
    """
    shm = Path("/dev/shm")  # noqa: S108 - tmpfs on purpose
    base = shm / "sab-metrics" / workdir.name if shm.is_dir() else workdir
    return base / f"metrics-{row}-{port}"


@dataclass(frozen=True)
class RunningRow:
    name: str
    base_url: str
    metrics_url: str
    process: subprocess.Popen[bytes]
    log: Path


@contextmanager
def running_row(
    row: str,
    workdir: Path,
    latency_url: str | None = None,
    cpus: frozenset[int] | None = None,
    *,
    keep_metrics_files: bool = False,
    extra_knobs: Mapping[str, str | int] | None = None,
    **knobs: str | int,
) -> Iterator[RunningRow]:
    """Serve ``row`` with `sab-serve` (its container command) on free ports.

    ``knobs`` are BENCH_* settings without the prefix, e.g. workers=4; port and
    metrics_port default to free ports. ``extra_knobs`` adds more of them.
    """
    knobs = {**(extra_knobs or {}), **knobs}
    port, metrics_port = int(knobs.pop("port", free_port())), free_port()
    metrics_port = int(knobs.pop("metrics_port", metrics_port))
    settings = {
        "BENCH_HOST": LOOPBACK,
        "BENCH_PORT": str(port),
        "BENCH_METRICS_PORT": str(metrics_port),
        "PROMETHEUS_MULTIPROC_DIR": str(multiproc_dir(workdir, row, port)),
        "BENCH_LATENCY_URL": latency_url or f"http://{LOOPBACK}:{free_port()}",
        **{f"BENCH_{key.upper()}": str(value) for key, value in knobs.items()},
    }
    env = {**os.environ, **launch_env(row, {**os.environ, **settings})}
    base_url = f"http://{LOOPBACK}:{port}"
    log = workdir / f"{row}-{port}.log"
    argv = [sys.executable, "-m", "services.serve", row]
    try:
        with running_process(argv, env, f"{base_url}/health", log, cpus) as process:
            yield RunningRow(
                row, base_url, f"http://{LOOPBACK}:{metrics_port}/metrics", process, log
            )
    finally:
        if not keep_metrics_files:
            shutil.rmtree(settings["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)


@contextmanager
def running_latency_service(
    workdir: Path, port: int | None = None, cpus: frozenset[int] | None = None
) -> Iterator[str]:
    """The latency service (on a free port unless given); yields its base URL."""
    port = port or free_port()
    env = {**os.environ, "BENCH_HOST": LOOPBACK, "BENCH_LATENCY_PORT": str(port)}
    base_url = f"http://{LOOPBACK}:{port}"
    log = workdir / f"latency-{port}.log"
    argv = [sys.executable, "-m", "services.serve", "latency"]
    with running_process(argv, env, f"{base_url}/health", log, cpus):
        yield base_url
