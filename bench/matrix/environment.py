"""Where and with what a run was measured: the report's first table."""

from __future__ import annotations

import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

import psutil

from bench.cores import CoreSplit
from bench.loadtest.runner import go_gc_env
from bench.paths import REPO_ROOT

PACKAGES = (
    "flask",
    "django",
    "fastapi",
    "starlette",
    "uvicorn",
    "gunicorn",
    "uvicorn-worker",
    "gevent",
    "httpx",
    "prometheus-client",
)


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def git_commit() -> str:
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    return f"{commit} (uncommitted changes)" if dirty else commit


def prometheus_version(binary: str | None) -> str:
    if binary is None:
        return "the compose stack's"
    try:
        output = subprocess.run(
            [binary, "--version"], capture_output=True, text=True, check=True, timeout=10
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return output.splitlines()[0] if output else "unknown"


def k6_go_gc() -> str:
    """The Go GC settings k6 ran with (bench.loadtest.runner.go_gc_env)."""
    applied = go_gc_env(os.environ, psutil.virtual_memory().total)
    if applied:
        return ", ".join(f"{key}={value}" for key, value in applied.items())
    chosen = {key: os.environ[key] for key in ("GOGC", "GOMEMLIMIT") if key in os.environ}
    return ", ".join(f"{key}={value}" for key, value in chosen.items()) + " (set by the user)"


def describe_environment(
    cores: CoreSplit, k6_version: str, prometheus_binary: str | None, stack: str
) -> dict[str, Any]:
    return {
        "stack": stack,
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "usable_cores": sorted(os.sched_getaffinity(0)),
        "service_cores": sorted(cores.services) if cores.services is not None else None,
        "load_cores": sorted(cores.load) if cores.load is not None else None,
        "cores": cores.describe(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "packages": {name: metadata.version(name) for name in PACKAGES},
        "k6": k6_version,
        "k6_go_gc": k6_go_gc(),
        "prometheus": prometheus_version(prometheus_binary),
        "git_commit": git_commit(),
    }
