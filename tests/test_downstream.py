"""/downstream makes a real, pooled HTTP call; a dead latency service is a clear 503."""

from __future__ import annotations

from pathlib import Path

import httpx
import psutil
import pytest

from bench.procs import free_port, running_latency_service, running_row

pytestmark = pytest.mark.live

ROWS = ["flask-sync", "flask-gevent", "fastapi-async", "django-wsgi", "django-asgi"]


def connections_to(port: int, server_pid: int) -> list[str]:
    """States of the TCP connections the server's processes hold to ``port``."""
    root = psutil.Process(server_pid)
    states = []
    for process in [root, *root.children(recursive=True)]:
        for connection in process.net_connections(kind="tcp"):
            if connection.raddr and connection.raddr.port == port:
                states.append(connection.status)
    return states


@pytest.mark.parametrize("row", ROWS)
def test_downstream_reuses_one_pooled_connection(row: str, tmp_path: Path) -> None:
    with (
        running_latency_service(tmp_path) as latency_url,
        running_row(row, tmp_path, latency_url=latency_url, workers=1) as server,
    ):
        for _ in range(10):
            response = httpx.get(f"{server.base_url}/downstream?ms=5", timeout=10)
            assert response.status_code == 200
            assert response.json()["downstream_ms"] == 5
        latency_port = int(latency_url.rsplit(":", 1)[1])
        states = connections_to(latency_port, server.process.pid)
    # Ten sequential calls through a keep-alive pool: one connection, still open.
    assert states == [psutil.CONN_ESTABLISHED], states


def test_downstream_waits_for_the_latency_service(tmp_path: Path) -> None:
    with (
        running_latency_service(tmp_path) as latency_url,
        running_row("fastapi-async", tmp_path, latency_url=latency_url) as server,
    ):
        # The first call also opens the row's pooled connection to the latency
        # service: on a busy machine that alone took 0.18 s, so time a warm one.
        httpx.get(f"{server.base_url}/downstream?ms=0", timeout=10)
        fast = httpx.get(f"{server.base_url}/downstream?ms=0", timeout=10).elapsed
        slow = httpx.get(f"{server.base_url}/downstream?ms=400", timeout=10).elapsed
    assert slow.total_seconds() > fast.total_seconds() + 0.3


@pytest.mark.parametrize("row", ["flask-sync", "fastapi-async", "django-asgi"])
def test_latency_service_down_is_a_clear_503(row: str, tmp_path: Path) -> None:
    nothing_listens = f"http://127.0.0.1:{free_port()}"
    with running_row(row, tmp_path, latency_url=nothing_listens) as server:
        response = httpx.get(f"{server.base_url}/downstream?ms=5", timeout=10)
    assert response.status_code == 503
    assert response.json()["error"].startswith(f"latency service unreachable at {nothing_listens}")


def test_latency_service_rejects_bad_input(tmp_path: Path) -> None:
    with running_latency_service(tmp_path) as latency_url:
        assert httpx.get(f"{latency_url}/delay?ms=1", timeout=5).json() == {"delayed_ms": 1}
        bad = httpx.get(f"{latency_url}/delay?ms=-5", timeout=5)
        assert bad.status_code == 400
        assert "ms must be an integer" in bad.json()["error"]
        assert httpx.get(f"{latency_url}/nope", timeout=5).status_code == 404
        assert httpx.post(f"{latency_url}/delay", timeout=5).status_code == 405
