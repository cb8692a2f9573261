"""Where the matrix finds its rows and Prometheus.

native (default): the harness starts its own Prometheus and latency service,
then each row alone, pinned to the service cores, on free ports: no idle row
competes for the CPU, k6 runs on the other cores.

docker: the compose stack that `make up` started (every row on its published
127.0.0.1 port, its Prometheus on 9090). Containers are not pinned and every
row stays up, so the report says so.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import httpx
import yaml

from bench.atomic import write_text_atomically
from bench.cores import CoreSplit
from bench.matrix.control import original_of
from bench.postgres import database_for_run
from bench.procs import LOOPBACK, running_latency_service, running_row, stable_free_ports
from bench.prometheus import PrometheusClient, find_prometheus, running_prometheus
from bench.stack.layout import PROMETHEUS_PORT
from bench.stack.prometheus_config import rows_scrape_job
from services.rows import get_row

# Finer than the stack's 1 s: a quick step lasts two seconds.
NATIVE_SCRAPE_INTERVAL_S = 0.5
DOCKER_SCRAPE_INTERVAL_S = 1.0
DOCKER_PROMETHEUS_URL = f"http://{LOOPBACK}:{PROMETHEUS_PORT}"


class StackUnavailableError(RuntimeError):
    """The stack the matrix was asked to use is not there."""


@dataclass(frozen=True)
class RowTarget:
    name: str
    base_url: str
    metrics_url: str


class Stack(Protocol):
    prometheus: PrometheusClient
    scrape_interval_s: float
    prometheus_binary: str | None
    # The PostgreSQL server the harness started beside the rows, on the
    # service cores: its CPU is part of what a database-bound row costs.
    database_pid: int | None

    def row(self, name: str) -> AbstractContextManager[RowTarget]: ...


@dataclass
class NativeStack:
    prometheus: PrometheusClient
    latency_url: str
    logs: Path
    cores: CoreSplit
    ports: Mapping[str, tuple[int, int]]  # row -> (port, metrics port)
    knobs: Mapping[str, int | str] = field(default_factory=dict)
    scrape_interval_s: float = NATIVE_SCRAPE_INTERVAL_S
    prometheus_binary: str | None = None
    database_pid: int | None = None

    @contextmanager
    def row(self, name: str) -> Iterator[RowTarget]:
        port, metrics_port = self.ports[name]
        with running_row(
            original_of(name),
            self.logs,
            latency_url=self.latency_url,
            cpus=self.cores.services,
            port=port,
            metrics_port=metrics_port,
            extra_knobs=self.knobs,
        ) as server:
            # A control copy is the same row under its own name (its own Prometheus label).
            yield RowTarget(name, server.base_url, server.metrics_url)


def matrix_prometheus_config(ports: Mapping[str, tuple[int, int]]) -> str:
    """The matrix's Prometheus: the stack's rows job, on the matrix's ports, scraped faster."""
    interval = f"{int(NATIVE_SCRAPE_INTERVAL_S * 1000)}ms"
    config = {
        "global": {"scrape_interval": interval, "scrape_timeout": interval},
        "scrape_configs": [
            rows_scrape_job({row: f"{LOOPBACK}:{metrics}" for row, (_, metrics) in ports.items()})
        ],
    }
    return yaml.safe_dump(config, sort_keys=False)


@contextmanager
def native_stack(
    rows: list[str],
    run_dir: Path,
    cores: CoreSplit,
    knobs: Mapping[str, int],
    *,
    database: bool = False,
) -> Iterator[NativeStack]:
    """Prometheus and the latency service for the whole run (and PostgreSQL if a workload
    needs it); rows start one at a time."""
    logs = run_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    # The rows start one by one over minutes, while k6 opens thousands of
    # connections: their ports must not come from the ephemeral range.
    free = iter(stable_free_ports(2 * len(rows) + 1))
    ports = {row: (next(free), next(free)) for row in rows}
    database_port = next(free)  # from the same draw: no row can be given it too
    config = run_dir / "prometheus.yml"
    write_text_atomically(config, matrix_prometheus_config(ports))
    with ExitStack() as stack:
        # Prometheus runs beside k6. The latency service runs beside the row:
        # /downstream's capacity is the row's plus its dependency's, as in
        # production, and k6's core stays free for sending load on time.
        prometheus = stack.enter_context(running_prometheus(config, logs, cpus=cores.load))
        latency_url = stack.enter_context(running_latency_service(logs, cpus=cores.services))
        row_knobs: dict[str, int | str] = {**knobs}
        database_pid = None
        if database:
            # PostgreSQL runs beside the row, as the latency service does: a
            # database-bound row's capacity is its own plus its database's, and
            # k6's core stays free for sending load on time.
            run_database = stack.enter_context(
                database_for_run(run_dir / "postgres", database_port, cores.services)
            )
            row_knobs["database_url"] = run_database.url
            database_pid = run_database.pid
        yield NativeStack(
            prometheus,
            latency_url,
            logs,
            cores,
            ports,
            row_knobs,
            prometheus_binary=str(find_prometheus()),
            database_pid=database_pid,
        )


@dataclass
class DockerStack:
    prometheus: PrometheusClient
    scrape_interval_s: float = DOCKER_SCRAPE_INTERVAL_S
    prometheus_binary: str | None = None
    database_pid: int | None = None  # compose's PostgreSQL is a container, not pinned

    @contextmanager
    def row(self, name: str) -> Iterator[RowTarget]:
        row = get_row(name)
        target = RowTarget(
            name,
            f"http://{LOOPBACK}:{row.port}",
            f"http://{LOOPBACK}:{row.metrics_port}/metrics",
        )
        try:
            healthy = httpx.get(f"{target.base_url}/health", timeout=5.0).status_code == 200
        except httpx.TransportError:
            healthy = False
        if not healthy:
            raise StackUnavailableError(
                f"{name} does not answer at {target.base_url}: start the stack with `make up`"
            )
        yield target


def docker_stack(prometheus_url: str = DOCKER_PROMETHEUS_URL) -> DockerStack:
    prometheus = PrometheusClient(prometheus_url.rstrip("/"))
    if not prometheus.is_ready():
        raise StackUnavailableError(
            f"no Prometheus at {prometheus.base_url}: start the compose stack with `make up`"
        )
    return DockerStack(prometheus)
