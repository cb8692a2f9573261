"""Bad input against every row's real server: always a 4xx, never a 5xx or a hang.

Each row runs under its own server (gunicorn, uvicorn, Granian; `sab-serve`,
its container command), so the table covers what the frameworks see and
what the servers stop before them: malformed queries, unknown paths, wrong
methods, a 70 KB header, bytes that are not HTTP. Every request goes over a
raw socket, exactly as written here, with a timeout. docs/reliability.md.
"""

from __future__ import annotations

import contextlib
import json
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from bench.procs import RunningRow, running_row
from services.endpoints import CPU_N, MS, SEED_MS
from services.rows import ROWS, Row

pytestmark = pytest.mark.live

IO_TIMEOUT_S = 10.0
# Far more than any bad request takes to be refused; a hang fails the test.
EXCHANGE_DEADLINE_S = 15.0
MAX_RESPONSE_BYTES = 1 << 20
FIVE_THOUSAND_DIGITS = "9" * 5000


def _seed_path(row: Row) -> str:
    return "/async" if row.is_async else "/sync"


def bad_targets(row: Row) -> list[tuple[str, str]]:
    """(case, request target) pairs the row must refuse with a 4xx."""
    seed = _seed_path(row)
    return [
        ("negative", "/io?ms=-1"),
        ("above-the-maximum", f"/io?ms={MS.maximum + 1}"),
        ("seed-above-the-maximum", f"{seed}?ms={SEED_MS.maximum + 1}"),
        ("NaN", "/io?ms=NaN"),
        ("infinity", "/io?ms=inf"),
        ("exponent", "/io?ms=1e3"),
        ("fraction", "/io?ms=1.5"),
        ("hex", "/io?ms=0x10"),
        ("underscore", "/io?ms=1_000"),
        ("plus-sign", "/io?ms=%2B5"),
        ("blank", "/io?ms="),
        ("space", "/io?ms=%20"),
        ("nul", "/io?ms=%00"),
        ("nul-in-name", "/io?m%00s=1"),
        ("invalid-utf8", "/io?ms=%ff"),
        ("duplicated", "/io?ms=1&ms=2"),
        ("duplicated-differently-encoded", "/io?ms=1&m%73=2"),
        ("5000-digits", f"/io?ms={FIVE_THOUSAND_DIGITS}"),
        ("5000-digits-negative", f"/io?ms=-{FIVE_THOUSAND_DIGITS}"),
        ("5000-digits-cpu", f"/cpu?n={FIVE_THOUSAND_DIGITS}"),
        ("cpu-negative", "/cpu?n=-1"),
        ("cpu-above-the-maximum", f"/cpu?n={CPU_N.maximum + 1}"),
        ("cpu-wrong-name", "/cpu?ms=5"),
        ("unknown-parameter", "/io?ms=1&verbose=1"),
        ("parameter-on-hello", "/hello?x=1"),
        ("parameter-on-db-query", "/db/query?id=1"),
        ("db-negative", "/db/sleep?ms=-1"),
        ("downstream-NaN", "/downstream?ms=NaN"),
        ("many-unknown-parameters", "/hello?" + "&".join(f"p{i}=1" for i in range(2000))),
        ("unknown-path", "/does-not-exist"),
        ("unknown-path-under-io", "/io/nothing"),
        ("traversal", "/io/../../etc/passwd"),
        ("invalid-utf8-path", "/%ff"),
        ("nul-in-path", "/hello%00"),
        ("long-path", "/" + "a" * 5000),
    ]


WRONG_METHODS = [("POST", "/io?ms=1"), ("PUT", "/hello"), ("DELETE", "/cpu"), ("PATCH", "/health")]

# Raw bytes the server itself must refuse (some never reach the framework).
HUGE_HEADER = (
    b"GET /hello HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
    + b"X-Padding: " + b"a" * 70_000 + b"\r\n\r\n"
)  # fmt: skip
RAW_REQUESTS = {
    "not-http-text": b"HELLO THERE, IS THIS A WEB SERVER?\r\n\r\n",
    "tls-client-hello": bytes.fromhex("16030100a5010000a10303") + bytes(range(32)) + b"\r\n\r\n",
    "binary-noise": bytes((i * 37 + 11) % 256 for i in range(512)) + b"\r\n\r\n",
    "bad-http-version": b"GET /hello HTTP/9.9\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
    "header-without-colon": (
        b"GET /hello HTTP/1.1\r\nHost: 127.0.0.1\r\nthis is not a header\r\n"
        b"Connection: close\r\n\r\n"
    ),
    "bad-content-length": (
        b"POST /io HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: -5\r\n"
        b"Connection: close\r\n\r\n"
    ),
}  # fmt: skip


@dataclass(frozen=True)
class Reply:
    status: int | None  # None: the server closed the connection without an answer
    head: str
    body: bytes


def exchange(port: int, data: bytes) -> Reply:
    """Send ``data`` on a new connection; read until the server closes it (bounded)."""
    deadline = time.monotonic() + EXCHANGE_DEADLINE_S
    received = b""
    with socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT_S) as sock:
        # Refused before it read everything (a 70 KB header)? Then read the answer.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(data)
        while time.monotonic() < deadline and len(received) < MAX_RESPONSE_BYTES:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            received += chunk
        else:
            if time.monotonic() >= deadline:
                raise AssertionError(
                    f"no end of answer within {EXCHANGE_DEADLINE_S} s: {data[:80]!r}"
                )
    head, _, body = received.partition(b"\r\n\r\n")
    status_line = head.split(b"\r\n", 1)[0].split()
    status = int(status_line[1]) if len(status_line) > 1 and status_line[1].isdigit() else None
    return Reply(status, head.decode("latin-1"), body)


def get(port: int, target: str, method: str = "GET") -> Reply:
    request = f"{method} {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
    if method in {"POST", "PUT", "PATCH"}:
        request += "Content-Length: 0\r\n"
    return exchange(port, (request + "\r\n").encode("latin-1"))


def _port(row: RunningRow) -> int:
    return int(row.base_url.rsplit(":", 1)[1])


def _assert_refused(reply: Reply, what: str) -> None:
    assert reply.status is not None, f"{what}: connection closed without an answer"
    assert 400 <= reply.status < 500, f"{what}: {reply.status}\n{reply.head}\n{reply.body[:300]!r}"
    assert b"Traceback" not in reply.body, what


@pytest.fixture(scope="module", params=ROWS, ids=[row.name for row in ROWS])
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Row, RunningRow]]:
    row: Row = request.param
    with running_row(row.name, tmp_path_factory.mktemp(row.name)) as running:
        yield row, running


def _still_serves(running: RunningRow) -> None:
    assert httpx.get(f"{running.base_url}/hello", timeout=IO_TIMEOUT_S).status_code == 200


def test_bad_queries_and_paths_are_4xx_with_a_json_error(served: tuple[Row, RunningRow]) -> None:
    row, running = served
    for case, target in bad_targets(row):
        reply = get(_port(running), target)
        _assert_refused(reply, f"{row.name} {case} {target[:60]}")
        # What reaches the framework gets the rows' one JSON error format; a
        # few (a 5,000-character path, say) the server refuses on its own.
        if reply.status in {400, 404} and b"{" in reply.body[:2]:
            assert "error" in json.loads(reply.body), (case, reply.body[:200])
    _still_serves(running)


def test_wrong_methods_are_405(served: tuple[Row, RunningRow]) -> None:
    row, running = served
    for method, target in WRONG_METHODS:
        reply = get(_port(running), target, method)
        assert reply.status == 405, (row.name, method, target, reply.head)
        # RFC 9110: a 405 names the methods the resource takes.
        allow = [line for line in reply.head.lower().splitlines() if line.startswith("allow:")]
        assert allow, (row.name, method, target, reply.head)
        assert "get" in allow[0], (row.name, allow)
    _still_serves(running)


def gunicorn_parses_http(row: Row) -> bool:
    """gunicorn's own HTTP parser (8,190 bytes a header line); uvicorn-worker uses httptools."""
    return row.server == "gunicorn" and row.worker_class != "uvicorn-worker"


def test_a_70kb_header_is_refused_or_served_never_an_error(served: tuple[Row, RunningRow]) -> None:
    """HTTP sets no limit on header size: gunicorn's parser refuses 70 KB (431), while
    uvicorn's httptools and Granian accept it (their buffers are larger) and answer 200."""
    row, running = served
    reply = exchange(_port(running), HUGE_HEADER)
    assert reply.status is not None, row.name
    if gunicorn_parses_http(row):
        assert reply.status == 431, (row.name, reply.head)  # Request Header Fields Too Large
    else:
        assert reply.status == 200, (row.name, reply.head)
    _still_serves(running)


@pytest.mark.parametrize("case", list(RAW_REQUESTS))
def test_what_is_not_http_is_refused_by_the_server(
    served: tuple[Row, RunningRow], case: str
) -> None:
    row, running = served
    _assert_refused(exchange(_port(running), RAW_REQUESTS[case]), f"{row.name} {case}")
    _still_serves(running)


def test_the_documented_bounds_are_accepted(served: tuple[Row, RunningRow]) -> None:
    """The edges of each range are good input: 0 and the maximum of ms are not refused."""
    row, running = served
    for target in ("/io?ms=0", "/io?ms=00001", "/cpu?n=0", f"{_seed_path(row)}?ms=0"):
        reply = get(_port(running), target)
        assert reply.status == 200, (row.name, target, reply.head)
