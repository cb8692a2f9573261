"""SIGTERM under load, every row: every request already inside the app finishes with 200.

Each row runs under its own server (`sab-serve`); three 1.5 s requests are
sent at once, and once the row's metrics show those it can take inside the
app, its server process gets SIGTERM, as a rolling restart or `docker stop`
sends it. The requests inside must finish with 200 within the servers'
graceful timeout (5 s), and the server must exit. What happens to the ones
still queued (one-worker sync rows take only one) differs by server and is
not asserted here; `pytest -s` prints it per row (docs/reliability.md).
"""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path

import httpx
import pytest

from bench.procs import running_row
from services.rows import ROWS, Row
from tests.scrape import scrape

pytestmark = pytest.mark.live

REQUESTS = 3
SLEEP_MS = 1500
GRACEFUL_TIMEOUT_S = 5  # gunicorn --graceful-timeout, uvicorn --timeout-graceful-shutdown, ...
REQUEST_TIMEOUT_S = 20.0
WAIT_S = 20.0


def _inside_capacity(metrics_url: str) -> int:
    """How many of the requests the row takes into the app at once."""
    slots = scrape(metrics_url).value("bench_worker_slots")
    return min(REQUESTS, int(slots)) if slots else REQUESTS


@pytest.mark.parametrize("row", ROWS, ids=[row.name for row in ROWS])
def test_requests_inside_the_app_finish_with_200_on_sigterm(row: Row, tmp_path: Path) -> None:
    outcomes: list[str] = []
    lock = threading.Lock()

    def one() -> None:
        started = time.monotonic()
        try:
            response = httpx.get(f"{server.base_url}/io?ms={SLEEP_MS}", timeout=REQUEST_TIMEOUT_S)
            outcome = f"{response.status_code} after {time.monotonic() - started:.1f} s"
        except httpx.HTTPError as error:
            outcome = f"{type(error).__name__} after {time.monotonic() - started:.1f} s"
        with lock:
            outcomes.append(outcome)

    with running_row(row.name, tmp_path) as server:
        inside = _inside_capacity(server.metrics_url)
        threads = [threading.Thread(target=one) for _ in range(REQUESTS)]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + WAIT_S
        while scrape(server.metrics_url).value("http_server_active_requests", route="/io") < inside:
            assert time.monotonic() < deadline, f"{inside} requests never inside the app"
            time.sleep(0.05)
        server.process.send_signal(signal.SIGTERM)
        for thread in threads:
            thread.join(timeout=REQUEST_TIMEOUT_S + 5)
        exit_code = server.process.wait(timeout=GRACEFUL_TIMEOUT_S + WAIT_S)
    # What each stack did, for `pytest -s` (docs/reliability.md quotes a run).
    print(
        f"\n{row.name}: inside {inside}, exit {exit_code}, answers: {'; '.join(sorted(outcomes))}"
    )
    assert not any(thread.is_alive() for thread in threads)
    finished = [o for o in outcomes if o.startswith("200 ")]
    # Each in-app request ends 200 well within the graceful timeout.
    assert len(finished) >= inside, (row.name, inside, outcomes, exit_code)
    for outcome in finished:
        assert float(outcome.split()[2]) < SLEEP_MS / 1000 + GRACEFUL_TIMEOUT_S, outcome
