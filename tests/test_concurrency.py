"""The seed's claim, scaled to 0.5 s, against real gunicorn and uvicorn servers.

Three users hit the same endpoint at the same moment. Serialised, they finish
about 0.5/1.0/1.5 s (slowest/fastest ~3); overlapped, all in ~0.5 s (~1).
Margins are wide on purpose: the assertion is about the shape, not the clock.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.procs import running_row
from tests.concurrent_requests import fire_together, spread

pytestmark = pytest.mark.live

USERS = 3
SERIALISED = 2.0  # slowest/fastest at least this: the requests queued
OVERLAPPED = 1.6  # slowest/fastest at most this: the requests ran together

CASES = [
    # row, path, knobs, serialises?
    ("flask-sync", "/io?ms=500", {"workers": 1}, True),
    ("flask-sync", "/sync?ms=500", {"workers": 1}, True),
    ("django-wsgi", "/io?ms=500", {"workers": 1}, True),
    ("flask-threads", "/io?ms=500", {"workers": 1, "threads": 4}, False),
    ("flask-gevent", "/io?ms=500", {"workers": 1}, False),
    ("fastapi-async", "/io?ms=500", {}, False),
    ("fastapi-async", "/async?ms=500", {}, False),
    ("fastapi-async", "/io/blocking?ms=500", {}, True),
    ("fastapi-async", "/io/thread?ms=500", {}, False),
    ("django-asgi", "/io?ms=500", {}, False),
    ("django-asgi", "/io/blocking?ms=500", {}, True),
    # Django runs a sync view under ASGI with sync_to_async(thread_sensitive=True),
    # but inside a per-request ThreadSensitiveContext: each request gets its own
    # thread, so they overlap (at the price of one thread per request in flight).
    ("django-asgi", "/io/thread?ms=500", {}, False),
]


@pytest.mark.parametrize(
    ("row", "path", "knobs", "serialises"),
    CASES,
    ids=[f"{row}{path.split('?')[0]}" for row, path, _, _ in CASES],
)
def test_three_users(
    row: str, path: str, knobs: dict[str, int], serialises: bool, tmp_path: Path
) -> None:
    with running_row(row, tmp_path, **knobs) as server:
        results = fire_together(server.base_url + path, USERS)
    assert [r.status for r in results] == [200] * USERS
    ratio = spread(results)
    if serialises:
        assert ratio >= SERIALISED, f"{row}{path} should serialise; slowest/fastest={ratio:.2f}"
        times = sorted(r.elapsed_s for r in results)
        assert times[1] / times[0] >= 1.4, f"the second user should wait too: {times}"
    else:
        assert ratio <= OVERLAPPED, f"{row}{path} should overlap; slowest/fastest={ratio:.2f}"


def test_gthread_caps_at_its_threads(tmp_path: Path) -> None:
    """gthread with 1 worker x 2 threads: the third user waits for a free thread."""
    with running_row("flask-threads", tmp_path, workers=1, threads=2) as server:
        results = fire_together(server.base_url + "/io?ms=500", USERS)
    times = sorted(r.elapsed_s for r in results)
    assert times[1] / times[0] <= OVERLAPPED, times
    assert times[2] / times[0] >= 1.6, times
