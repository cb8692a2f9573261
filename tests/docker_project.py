"""The compose project on the real engine, seen from outside: containers, networks, volumes.

Helpers for tests/test_docker_live.py. They ask the engine itself (`docker
ps`, `docker network ls`, ...) by the project's compose label, never through
bench's own code, so a test can tell what really runs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.paths import REPO_ROOT
from bench.stack.docker import PROFILES, compose_base_argv

PROJECT = "sync-async-bench"  # `name:` in docker-compose.yml
PROJECT_LABEL = f"label=com.docker.compose.project={PROJECT}"
VENV = Path(sys.executable).parent.parent
MAKE_TIMEOUT_S = 600.0
DOCKER_TIMEOUT_S = 60.0

# Grafana has no image here (no registry, and no Debian or PyPI package):
# this override replaces its profile (`observability`) with one nobody
# enables, so compose runs every other service. docs/stack.md shows users the
# same file. `!override`: profiles from several files are otherwise merged.
NO_GRAFANA_OVERRIDE = """\
services:
  grafana:
    profiles: !override ["grafana"]
"""


def docker(*args: str, timeout_s: float = DOCKER_TIMEOUT_S) -> str:
    result = subprocess.run(
        ["docker", *args], capture_output=True, text=True, timeout=timeout_s, check=False
    )
    assert result.returncode == 0, f"docker {' '.join(args)}: {result.stderr}"
    return result.stdout


def containers() -> list[str]:
    """Every container of the project, running or not."""
    return docker("ps", "--all", "--quiet", "--filter", PROJECT_LABEL).split()


def networks() -> list[str]:
    return docker("network", "ls", "--quiet", "--filter", PROJECT_LABEL).split()


def mounted_volumes(ids: list[str]) -> set[str]:
    """Names of the volumes (named or anonymous) mounted by these containers."""
    if not ids:
        return set()
    inspected: list[dict[str, Any]] = json.loads(docker("inspect", *ids))
    return {
        mount["Name"]
        for container in inspected
        for mount in container["Mounts"]
        if mount["Type"] == "volume"
    }


def existing_volumes() -> set[str]:
    return set(docker("volume", "ls", "--quiet").split())


def health(container: str) -> tuple[str, str]:
    """(compose service, health status) of a container; for one without a
    healthcheck (the one-shot seed) its state and exit code, e.g. "exited-0"."""
    out = docker(
        "inspect",
        "--format",
        '{{index .Config.Labels "com.docker.compose.service"}} '
        "{{if .State.Health}}{{.State.Health.Status}}"
        "{{else}}{{.State.Status}}-{{.State.ExitCode}}{{end}}",
        container,
    )
    service, status = out.split()
    return service, status


def project_volume(volume: str) -> str:
    """The engine's name of one of the project's named volumes, e.g. postgres-data."""
    return f"{PROJECT}_{volume}"


def image_present(image: str) -> bool:
    inspect = ["docker", "image", "inspect", image]
    return (
        subprocess.run(
            inspect, capture_output=True, timeout=DOCKER_TIMEOUT_S, check=False
        ).returncode
        == 0
    )


def dangling_images() -> set[str]:
    return set(docker("images", "--quiet", "--filter", "dangling=true").split())


@dataclass(frozen=True)
class Project:
    """How the tests run make, bench and compose: docker mode, temporary state and results."""

    env: dict[str, str]
    state_dir: Path
    results_dir: Path

    def make(self, *args: str, **extra_env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["make", "--no-print-directory", "-C", str(REPO_ROOT), f"VENV={VENV}", *args],
            env={**self.env, **extra_env},
            capture_output=True,
            text=True,
            timeout=MAKE_TIMEOUT_S,
            check=False,
        )

    def compose(self, *args: str, timeout_s: float = 180.0) -> subprocess.CompletedProcess[str]:
        """compose exactly as bench calls it (project directory, .env, COMPOSE_FILE)."""
        return subprocess.run(
            [*compose_base_argv(), *args],
            env=self.env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )

    def resolved_images(self) -> dict[str, str]:
        """Service (or `build` for the Dockerfile's base) -> the image the stack would use."""
        every_profile = [arg for profile in PROFILES for arg in ("--profile", profile)]
        result = self.compose(*every_profile, "config", "--format", "json")
        assert result.returncode == 0, result.stderr
        services: dict[str, Any] = json.loads(result.stdout)["services"]
        images = {
            name: service["image"]
            for name, service in services.items()
            if "build" not in service and service["image"] != services["latency"]["image"]
        }
        images["build"] = services["latency"]["build"]["args"]["PYTHON_IMAGE"]
        return images


def project_env(base: Mapping[str, str], workdir: Path) -> Project:
    """Docker mode, its own state and results directories, and no Grafana."""
    override = workdir / "no-grafana.yml"
    override.write_text(NO_GRAFANA_OVERRIDE)
    state_dir = workdir / "state"
    results_dir = workdir / "results"
    results_dir.mkdir(parents=True)
    # The results directory is the container's /results: as on a user's
    # machine, root's and mode 755, not writable by the k6 image's uid 12345.
    results_dir.chmod(0o755)
    env = {
        **base,
        "BENCH_STACK": "docker",
        "BENCH_STATE_DIR": str(state_dir),
        "BENCH_RESULTS_DIR": str(results_dir),
        "COMPOSE_FILE": os.pathsep.join([str(REPO_ROOT / "docker-compose.yml"), str(override)]),
    }
    for knob in ("FLASK_SYNC_WORKERS", "MAKEFLAGS", "MAKELEVEL"):
        env.pop(knob, None)
    return Project(env, state_dir, results_dir)
