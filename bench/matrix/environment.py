"""Where and with what a run was measured: the report's first table."""

from __future__ import annotations

import os
import platform
import re
import subprocess
import sys
import sysconfig
import time
from importlib import metadata
from pathlib import Path
from typing import Any

import psutil

from bench.cores import CoreSplit
from bench.loadtest.runner import go_gc_env
from bench.paths import REPO_ROOT

# The table shows these; results.json lists every installed distribution.
KEY_PACKAGES = (
    "flask",
    "django",
    "fastapi",
    "starlette",
    "uvicorn",
    "gunicorn",
    "uvicorn-worker",
    "uvloop",
    "gevent",
    "granian",
    "httpx",
    "prometheus-client",
)


CPU_TIME_FIELDS = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")


def installed_packages() -> dict[str, str]:
    """Every distribution in the environment the rows ran from, by normalised name (PEP 503)."""
    found = {
        re.sub(r"[-_.]+", "-", dist.metadata["Name"]).lower(): dist.version
        for dist in metadata.distributions()
    }
    return dict(sorted(found.items()))


def python_build() -> dict[str, str]:
    build, built_on = platform.python_build()
    free_threaded = bool(sysconfig.get_config_var("Py_GIL_DISABLED"))
    return {
        "implementation": platform.python_implementation(),
        "version": platform.python_version(),
        "build": f"{build}, {built_on}",
        "compiler": platform.python_compiler(),
        "executable": sys.executable,
        "gil": "free-threaded build" if free_threaded else "with the GIL",
    }


def cpu_governor() -> str:
    """The cpufreq governors of the cores, or why there is none to read (VMs often have none)."""
    found = sorted(
        {
            path.read_text().strip()
            for path in Path("/sys/devices/system/cpu").glob("cpu[0-9]*/cpufreq/scaling_governor")
            if path.is_file()
        }
    )
    return ", ".join(found) if found else "not exposed (no cpufreq: frequency set by the host)"


def cpu_times() -> dict[str, int] | None:
    """The machine's CPU time so far, in ticks, from /proc/stat's first line (None: unreadable)."""
    try:
        first = Path("/proc/stat").read_text().splitlines()[0].split()
    except (OSError, IndexError):
        return None
    return dict(zip(CPU_TIME_FIELDS, (int(value) for value in first[1:]), strict=False))


def machine_state() -> dict[str, Any]:
    """How busy the machine is now: load average and CPU time counters."""
    return {"at": time.time(), "load_average": list(os.getloadavg()), "cpu_times": cpu_times()}


def steal_share(before: dict[str, Any], after: dict[str, Any]) -> float | None:
    """The share of CPU time the hypervisor gave to others between two machine states."""
    first, last = before.get("cpu_times"), after.get("cpu_times")
    if not first or not last:
        return None
    total = sum(last.values()) - sum(first.values())
    return (last.get("steal", 0) - first.get("steal", 0)) / total if total > 0 else None


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
        "python_build": python_build(),
        "cpu_governor": cpu_governor(),
        "packages": {name: metadata.version(name) for name in KEY_PACKAGES},
        "installed": installed_packages(),
        "before": machine_state(),
        "k6": k6_version,
        "k6_go_gc": k6_go_gc(),
        "prometheus": prometheus_version(prometheus_binary),
        "git_commit": git_commit(),
    }


def _busy(environment: dict[str, Any]) -> str:
    before, after = environment.get("before"), environment.get("after")
    if not before:
        return "not recorded"
    loads = f"load average {before['load_average'][0]:.2f} before"
    if not after:
        return loads + " (the run did not end normally)"
    steal = steal_share(before, after)
    stolen = "steal not readable" if steal is None else f"{steal:.1%} of CPU time stolen"
    return f"{loads}, {after['load_average'][0]:.2f} after; {stolen} during the run"


def environment_rows(environment: dict[str, Any]) -> list[list[str]]:
    """The report's environment table: (what, value) rows."""
    packages = ", ".join(f"{name} {version}" for name, version in environment["packages"].items())
    installed = environment.get("installed", {})
    build = environment.get("python_build")
    python = environment["python"]
    if build:
        python = f"{build['implementation']} {build['version']} ({build['build']}; {build['gil']})"
    rows = [
        ("stack", environment["stack"]),
        ("CPU", f"{environment['cpu_model']} ({environment['cpu_count']} logical CPUs)"),
        ("cores", environment["cores"]),
        ("CPU frequency governor", environment.get("cpu_governor", "not recorded")),
        ("machine busy?", _busy(environment)),
        ("kernel", environment["kernel"]),
        ("Python", python),
        ("k6", f"{environment['k6']}, Go GC: {environment.get('k6_go_gc', 'not recorded')}"),
        ("Prometheus", environment["prometheus"]),
        ("packages", f"{packages} ({len(installed)} installed: results.json lists them all)"),
        ("git commit", environment["git_commit"]),
    ]
    return [[key, str(value)] for key, value in rows]
