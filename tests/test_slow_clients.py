"""Slow clients: idle and half-sent connections must not stop a row from serving others.

Event-loop and green-thread servers (uvicorn, gunicorn's gevent, uvicorn and
asgi workers, Granian) park a slow connection and serve on: 20 idle plus 20
half-sent connections leave /hello answering. gunicorn's `sync` and
`gthread` workers give each connection a worker or thread until its request
is read, so as many slow connections as the row has slots (W, or W x T)
stall it: that documented exception is asserted too (one slot fewer still
serves), as is the recovery once the slow clients go. docs/reliability.md.
"""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bench.procs import LOOPBACK, RunningRow, running_row
from services.rows import ROWS, Row
from tests.scrape import scrape

pytestmark = pytest.mark.live

SLOW_CLIENTS = 20
HALF_SENT = b"GET /hello HTTP/1.1\r\nHost: 127.0.0.1\r\n"  # the blank line never comes
PROBE_TIMEOUT_S = 3.0
STALLED_TIMEOUT_S = 2.0
SETTLE_S = 0.3


def blocks_per_connection(row: Row) -> bool:
    return row.server == "gunicorn" and row.worker_class in {"sync", "gthread"}


@contextlib.contextmanager
def slow_connections(row: RunningRow, idle: int, half_sent: int) -> Iterator[None]:
    """``idle`` connections that send nothing and ``half_sent`` that stop mid-request."""
    port = int(row.base_url.rsplit(":", 1)[1])
    opened: list[socket.socket] = []
    try:
        for count, data in ((idle, b""), (half_sent, HALF_SENT)):
            for _ in range(count):
                connection = socket.create_connection((LOOPBACK, port), timeout=PROBE_TIMEOUT_S)
                opened.append(connection)
                if data:
                    connection.sendall(data)
        time.sleep(SETTLE_S)  # let the server accept them
        yield
    finally:
        for connection in opened:
            connection.close()


def hello(row: RunningRow, timeout_s: float = PROBE_TIMEOUT_S) -> int | str:
    try:
        return httpx.get(f"{row.base_url}/hello", timeout=timeout_s).status_code
    except httpx.TimeoutException as error:
        return type(error).__name__


@pytest.mark.parametrize("row", ROWS, ids=[row.name for row in ROWS])
def test_slow_clients_up_to_the_rows_limit_do_not_stop_it(row: Row, tmp_path: Path) -> None:
    with running_row(row.name, tmp_path) as server:
        if not blocks_per_connection(row):
            with slow_connections(server, idle=SLOW_CLIENTS, half_sent=SLOW_CLIENTS):
                assert hello(server) == 200
        else:
            slots = int(scrape(server.metrics_url).value("bench_worker_slots"))
            assert slots >= 1
            with slow_connections(server, idle=slots - slots // 2, half_sent=slots // 2):
                # Every slot holds a slow client: nothing is left for /hello.
                assert hello(server, STALLED_TIMEOUT_S) == "ReadTimeout"
            if slots > 1:
                with slow_connections(server, idle=(slots - 1) // 2, half_sent=slots // 2):
                    assert hello(server) == 200  # one slot free
        assert hello(server) == 200  # the slow clients gone, the row serves
