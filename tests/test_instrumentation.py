"""The middlewares and collectors in-process, with tiny apps and real sockets."""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import time
from collections.abc import Iterable
from typing import Any

import pytest
from prometheus_client import REGISTRY

from services.endpoints import UNMATCHED_ROUTE
from services.instrumentation.asgi import ASGIMetricsMiddleware, Message
from services.instrumentation.collectors import ProcessTreeCpu, listen_backlog
from services.instrumentation.recording import FLUSH_INTERVAL_S, RECORDER, flush
from services.instrumentation.routes import method_label, route_labels
from services.instrumentation.wsgi import WSGIMetricsMiddleware

COUNT = "http_server_request_duration_seconds_count"


def count(route: str, status: str, method: str = "GET") -> float:
    flush()  # what the background flusher would do within FLUSH_INTERVAL_S
    labels = {"method": method, "route": route, "status": status}
    return REGISTRY.get_sample_value(COUNT, labels) or 0.0


def test_route_labels_are_a_closed_set() -> None:
    wsgi, asgi = route_labels("wsgi"), route_labels("asgi")
    assert wsgi["/io"] == "/io"
    assert "/io/blocking" not in wsgi  # not served by WSGI rows
    assert asgi["/io/blocking"] == "/io/blocking"
    assert "/health" not in asgi  # liveness is never counted, not even as unmatched
    assert method_label("GET") == "GET"
    assert method_label("BREW") == "_OTHER"


def _wsgi_app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    if environ["PATH_INFO"] == "/cpu":
        raise RuntimeError("boom")
    start_response("201 Created", [("content-type", "text/plain")])
    return [b"ok"]


def _call_wsgi(app: WSGIMetricsMiddleware, path: str) -> list[bytes]:
    environ = {"PATH_INFO": path, "REQUEST_METHOD": "GET"}
    body = app(environ, lambda status, headers, exc_info=None: None)
    try:
        return list(body)
    finally:
        body.close()


def test_wsgi_middleware_records_status_route_and_errors() -> None:
    app = WSGIMetricsMiddleware(_wsgi_app, route_labels("wsgi"))
    ok_before, err_before = count("/hello", "201"), count("/cpu", "500")
    unmatched_before = count(UNMATCHED_ROUTE, "201")
    assert _call_wsgi(app, "/hello") == [b"ok"]
    _call_wsgi(app, "/a/raw/path/7")
    with pytest.raises(RuntimeError):
        _call_wsgi(app, "/cpu")
    assert count("/hello", "201") == ok_before + 1
    assert count(UNMATCHED_ROUTE, "201") == unmatched_before + 1
    assert count("/cpu", "500") == err_before + 1
    flush()
    assert REGISTRY.get_sample_value("http_server_active_requests", {"route": "/cpu"}) == 0


def test_wsgi_request_ends_when_the_body_is_closed() -> None:
    app = WSGIMetricsMiddleware(_wsgi_app, route_labels("wsgi"))
    environ = {"PATH_INFO": "/hello", "REQUEST_METHOD": "GET"}
    body = app(environ, lambda status, headers, exc_info=None: None)
    flush()
    assert REGISTRY.get_sample_value("http_server_active_requests", {"route": "/hello"}) == 1
    body.close()
    flush()
    assert REGISTRY.get_sample_value("http_server_active_requests", {"route": "/hello"}) == 0


async def _asgi_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["path"] == "/cpu":
        raise RuntimeError("boom")
    await send({"type": "http.response.start", "status": 202, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


async def _call_asgi(app: ASGIMetricsMiddleware, path: str) -> list[Message]:
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b""}

    async def send(message: Message) -> None:
        sent.append(message)

    await app({"type": "http", "method": "GET", "path": path}, receive, send)
    return sent


def test_asgi_middleware_records_status_route_and_errors() -> None:
    app = ASGIMetricsMiddleware(
        _asgi_app, route_labels=route_labels("asgi"), app_handles_lifespan=True
    )
    ok_before, err_before = count("/io/thread", "202"), count("/cpu", "500")
    health_before = count(UNMATCHED_ROUTE, "202")
    asyncio.run(_call_asgi(app, "/io/thread"))
    asyncio.run(_call_asgi(app, "/health"))  # liveness is never counted
    with pytest.raises(RuntimeError):
        asyncio.run(_call_asgi(app, "/cpu"))
    assert count("/io/thread", "202") == ok_before + 1
    assert count("/cpu", "500") == err_before + 1
    assert count(UNMATCHED_ROUTE, "202") == health_before


def test_asgi_middleware_answers_lifespan_for_apps_that_cannot() -> None:
    async def no_lifespan(scope: dict[str, Any], receive: Any, send: Any) -> None:
        raise ValueError("Django can only handle ASGI/HTTP connections, not lifespan.")

    started: list[bool] = []
    app = ASGIMetricsMiddleware(
        no_lifespan,
        route_labels=route_labels("asgi"),
        app_handles_lifespan=False,
        on_startup=lambda: started.append(True),
    )

    async def lifespan() -> list[str]:
        inbox = asyncio.Queue[Message]()
        for kind in ("lifespan.startup", "lifespan.shutdown"):
            inbox.put_nowait({"type": kind})
        sent: list[str] = []

        async def send(message: Message) -> None:
            sent.append(message["type"])
            await asyncio.sleep(0.25)  # let the probe run a couple of times

        await app({"type": "lifespan"}, inbox.get, send)
        return sent

    before = REGISTRY.get_sample_value("bench_event_loop_lag_seconds_count") or 0.0
    assert asyncio.run(lifespan()) == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    assert started == [True]
    assert (REGISTRY.get_sample_value("bench_event_loop_lag_seconds_count") or 0.0) > before


def test_listen_backlog_reads_the_kernel_accept_queue() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(16)
        port = server.getsockname()[1]
        assert listen_backlog(port) == 0
        clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(3)]
        try:
            assert listen_backlog(port) == 3  # connected, never accepted
            accepted, _ = server.accept()
            accepted.close()
            assert listen_backlog(port) == 2
        finally:
            for client in clients:
                client.close()


def test_process_tree_cpu_is_monotonic() -> None:
    cpu = ProcessTreeCpu(os.getpid())
    first = cpu.total_seconds()
    sum(i * i for i in range(300_000))
    assert cpu.total_seconds() > first


def test_background_flusher_publishes_without_help() -> None:
    app = WSGIMetricsMiddleware(_wsgi_app, route_labels("wsgi"))
    key = {"method": "GET", "route": "/downstream", "status": "201"}
    before = REGISTRY.get_sample_value(COUNT, key) or 0.0
    _call_wsgi(app, "/downstream")
    deadline = time.monotonic() + 20 * FLUSH_INTERVAL_S
    while (REGISTRY.get_sample_value(COUNT, key) or 0.0) == before:
        assert time.monotonic() < deadline, "the flusher never published the request"
        time.sleep(FLUSH_INTERVAL_S / 2)
    assert REGISTRY.get_sample_value(COUNT, key) == before + 1


def test_recording_from_many_threads_loses_nothing() -> None:
    """The request path takes no lock: concurrent appends and flushes must still add up."""
    threads, per_thread = 8, 2_000
    key = {"method": "PATCH", "route": "/cpu", "status": "299"}
    before = count("/cpu", "299", method="PATCH")
    lowest_active: list[float] = []
    done = threading.Event()

    def serve() -> None:
        for _ in range(per_thread):
            RECORDER.note_started("/cpu")
            RECORDER.note_finished(("PATCH", "/cpu", 299, 0.003))

    def flush_meanwhile() -> None:
        while not done.is_set():
            flush()
            active = REGISTRY.get_sample_value("http_server_active_requests", {"route": "/cpu"})
            lowest_active.append(active or 0.0)

    flusher = threading.Thread(target=flush_meanwhile)
    flusher.start()
    workers = [threading.Thread(target=serve) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    done.set()
    flusher.join()
    assert count(key["route"], key["status"], method=key["method"]) == before + threads * per_thread
    assert REGISTRY.get_sample_value("http_server_active_requests", {"route": "/cpu"}) == 0
    assert min(lowest_active) >= 0


def test_flushed_durations_land_in_prometheus_buckets() -> None:
    """Bounds are inclusive (Prometheus "le"); past the last bound is +Inf."""
    labels = {"method": "PUT", "route": "/io", "status": "418"}

    def cumulative(le: str) -> float:
        name = "http_server_request_duration_seconds_bucket"
        return REGISTRY.get_sample_value(name, {**labels, "le": le}) or 0.0

    bounds = ("0.001", "0.0025", "60.0", "+Inf")
    before = {le: cumulative(le) for le in bounds}
    sum_before = REGISTRY.get_sample_value("http_server_request_duration_seconds_sum", labels)
    durations = (0.0005, 0.001, 0.0010001, 0.0025, 0.003, 59.9, 60.0, 61.0, 0.0005)
    for duration_s in durations:
        RECORDER.note_started("/io")
        RECORDER.note_finished(("PUT", "/io", 418, duration_s))
    flush()
    added = {le: cumulative(le) - before[le] for le in bounds}
    assert added == {"0.001": 3, "0.0025": 5, "60.0": 8, "+Inf": 9}
    total = REGISTRY.get_sample_value("http_server_request_duration_seconds_sum", labels)
    assert total == pytest.approx((sum_before or 0.0) + sum(durations))
