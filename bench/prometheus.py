"""Run a real Prometheus (the Debian package's binary) and query its HTTP API."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from bench.procs import LOOPBACK, free_port, running_process

# Flags the project relies on: k6 pushes by remote write, with native histograms.
PROMETHEUS_FEATURE_FLAGS = (
    "--web.enable-remote-write-receiver",
    "--enable-feature=native-histograms",
    "--web.enable-lifecycle",
)


class PrometheusNotFoundError(RuntimeError):
    """No prometheus binary on PATH."""


class PrometheusQueryError(RuntimeError):
    """Prometheus answered a query with an error."""


def find_prometheus() -> Path:
    binary = shutil.which("prometheus")
    if binary is None:
        raise PrometheusNotFoundError(
            "prometheus not found on PATH: `apt-get install prometheus` (Debian) "
            "or use the docker stack"
        )
    return Path(binary)


def prometheus_argv(config: Path, data_dir: Path, port: int, host: str = LOOPBACK) -> list[str]:
    """The command line the native stack and the tests run Prometheus with."""
    return [
        str(find_prometheus()),
        f"--config.file={config}",
        f"--storage.tsdb.path={data_dir}",
        f"--web.listen-address={host}:{port}",
        "--storage.tsdb.retention.time=7d",
        *PROMETHEUS_FEATURE_FLAGS,
    ]


@dataclass(frozen=True)
class PrometheusClient:
    """A thin client for the query API, which returns the `data` part of answers."""

    base_url: str
    timeout_s: float = 10.0

    def _get(self, path: str, params: Mapping[str, str | float]) -> Any:
        # Over plain HTTP there is no certificate to check, and not loading the
        # CA bundle saves ~50 ms per call (the query itself takes ~2 ms).
        response = httpx.get(
            f"{self.base_url}{path}",
            params=params,
            timeout=self.timeout_s,
            verify=self.base_url.startswith("https://"),
        )
        body = response.json()
        if body.get("status") != "success":
            raise PrometheusQueryError(f"{path} {dict(params)}: {body.get('error', body)}")
        return body["data"]

    def query(self, expr: str, time: float | None = None) -> list[dict[str, Any]]:
        """Instant query: the result vector (list of {'metric', 'value'})."""
        params: dict[str, str | float] = {"query": expr}
        if time is not None:
            params["time"] = time
        result: list[dict[str, Any]] = self._get("/api/v1/query", params)["result"]
        return result

    def query_range(self, expr: str, start: float, end: float, step: float) -> list[dict[str, Any]]:
        """Range query: the result matrix (list of {'metric', 'values'})."""
        params: dict[str, str | float] = {"query": expr, "start": start, "end": end, "step": step}
        result: list[dict[str, Any]] = self._get("/api/v1/query_range", params)["result"]
        return result

    def series(self, match: str, start: float | None = None) -> list[dict[str, str]]:
        params: dict[str, str | float] = {"match[]": match}
        if start is not None:
            params["start"] = start
        result: list[dict[str, str]] = self._get("/api/v1/series", params)
        return result

    def is_ready(self) -> bool:
        try:
            return httpx.get(f"{self.base_url}/-/ready", timeout=2.0).status_code == 200
        except httpx.TransportError:
            return False

    def reload(self) -> None:
        httpx.post(f"{self.base_url}/-/reload", timeout=self.timeout_s).raise_for_status()


@contextmanager
def running_prometheus(
    config: Path, workdir: Path, port: int | None = None, cpus: frozenset[int] | None = None
) -> Iterator[PrometheusClient]:
    """A real Prometheus with ``config`` until the block exits (always stopped)."""
    port = port or free_port()
    data_dir = workdir / f"prometheus-data-{port}"
    data_dir.mkdir(parents=True, exist_ok=True)
    argv = prometheus_argv(config, data_dir, port)
    base_url = f"http://{LOOPBACK}:{port}"
    log = workdir / f"prometheus-{port}.log"
    with running_process(argv, dict(os.environ), f"{base_url}/-/ready", log, cpus):
        yield PrometheusClient(base_url)
