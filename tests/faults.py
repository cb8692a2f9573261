"""Helpers of the fault tests: wait with a deadline, find a child to kill, run a matrix."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil

from bench.loadtest.runner import K6_SUMMARY_FILE

POLL_S = 0.1


def wait_for(condition: Callable[[], bool], what: str, timeout_s: float) -> None:
    """Poll ``condition`` until it holds; fail naming ``what`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout_s} s")
        time.sleep(POLL_S)


def descendants(pid: int) -> list[psutil.Process]:
    try:
        return list(psutil.Process(pid).children(recursive=True))
    except psutil.NoSuchProcess:
        return []


def child_named(pid: int, name: str, *, running_for_s: float, timeout_s: float) -> psutil.Process:
    """A descendant of ``pid`` called ``name`` that has been alive ``running_for_s`` (our clock).

    Its age is timed here rather than read from the kernel's start time,
    which some virtual machines report seconds off.
    """
    first_seen: dict[int, float] = {}
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for process in descendants(pid):
            try:
                if process.name() != name:
                    continue
            except psutil.NoSuchProcess:
                continue
            seen = first_seen.setdefault(process.pid, time.monotonic())
            if time.monotonic() - seen >= running_for_s and process.is_running():
                return process
        time.sleep(POLL_S)
    raise AssertionError(f"no {name} under pid {pid} running for {running_for_s} s")


def alive(processes: list[psutil.Process]) -> list[psutil.Process]:
    """Those still running (zombies count as gone)."""
    found = []
    for process in processes:
        try:
            if process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
                found.append(process)
        except psutil.NoSuchProcess:
            continue
    return found


def temporaries(directory: Path) -> list[Path]:
    """Files bench.atomic writes before renaming them, and k6's summary before it is whole."""
    return [
        path
        for path in directory.rglob(".*")
        if ".tmp" in path.name or path.name == K6_SUMMARY_FILE
    ]


def start_matrix(results: Path, run_id: str, *args: str) -> subprocess.Popen[str]:
    """`bench matrix` on flask-sync's /io, as tests/test_matrix_live.py runs it (small)."""
    return subprocess.Popen(
        [
            sys.executable, "-m", "bench", "matrix", "--rows", "flask-sync",
            "--workloads", "io", "--step-seconds", "2", "--run-id", run_id, *args,
        ],
        env={**os.environ, "BENCH_RESULTS_DIR": str(results)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip


def recorded_steps(run_dir: Path) -> list[dict[str, Any]]:
    """The steps results.json holds so far (it is written whole, step by step)."""
    path = run_dir / "results.json"
    if not path.is_file():
        return []
    steps: list[dict[str, Any]] = json.loads(path.read_text())["steps"]
    return steps


def finish(process: subprocess.Popen[str], timeout_s: float) -> tuple[str, str]:
    """Its output once it ends; killed if it does not within ``timeout_s``."""
    try:
        return process.communicate(timeout=timeout_s)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
