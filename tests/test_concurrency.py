"""The seed's claim, scaled to 0.5 s, against real gunicorn and uvicorn servers.

Three users hit the same endpoint at the same moment. Serialised, they finish
about 0.5/1.0/1.5 s (slowest/fastest ~3); overlapped, all in ~0.5 s (~1).
Margins are wide on purpose: the assertion is about the shape, not the clock.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.procs import running_row
from services.rows import ROWS
from services.settings import load_settings
from tests.concurrent_requests import fire_together, spread

pytestmark = pytest.mark.live

USERS = 3
SERIALISED = 2.0  # slowest/fastest at least this: the requests queued
OVERLAPPED = 1.6  # slowest/fastest at most this: the requests ran together

# Every row starts with one worker (W=1). What each row does with three users
# follows from its server module, never from its name: with fewer request
# slots than users (a sync worker) they queue; an event loop overlaps them on
# /io and its seed path /async, serialises them on /io/blocking (time.sleep
# blocks the one loop) and overlaps them on /io/thread (the thread pool).
# Django under ASGI runs a sync view with sync_to_async(thread_sensitive=True),
# but inside a per-request ThreadSensitiveContext: each request gets its own
# thread, so /io/thread overlaps there too.
ONE_WORKER = {"workers": 1}


def _cases() -> list[tuple[str, str, bool]]:
    cases = []
    for row in ROWS:
        settings = load_settings(row.name, {"BENCH_WORKERS": "1"})
        slots = settings.total_slots
        queues = slots is not None and slots < USERS
        cases += [(row.name, "/io?ms=500", queues), (row.name, f"{row.seed_path}?ms=500", queues)]
        if row.is_async:
            one_loop = settings.workers == 1
            cases += [
                (row.name, "/io/blocking?ms=500", one_loop),
                (row.name, "/io/thread?ms=500", False),
            ]
    return cases


CASES = _cases()


@pytest.mark.parametrize(
    ("row", "path", "serialises"),
    CASES,
    ids=[f"{row}{path.split('?')[0]}" for row, path, _ in CASES],
)
def test_three_users(row: str, path: str, serialises: bool, tmp_path: Path) -> None:
    with running_row(row, tmp_path, extra_knobs=ONE_WORKER) as server:
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
