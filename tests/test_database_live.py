"""/db/* against real servers and a real PostgreSQL: concurrency, pool metrics, faults.

The seed's claim on the database: three users at once on /db/sleep?ms=1000.
Timings are asserted as wide-margin ratios (tests/test_concurrency.py).
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import psutil
import psycopg
import pytest

from bench.postgres import running_postgres, seed
from bench.procs import LOOPBACK, free_port, running_row
from bench.stack.layout import port_is_free
from services.database.schema import ROW_COUNT
from services.rows import ROWS, Row
from services.settings import load_settings
from tests.concurrent_requests import Timed, fire_together, spread
from tests.scrape import scrape
from tests.test_metrics_live import in_background, settle, wait_for

pytestmark = pytest.mark.live

USERS = 3
SERIALISED = 2.0
OVERLAPPED = 1.6
ROW_IDS = [row.name for row in ROWS]


def three_users(base_url: str, path: str = "/db/sleep?ms=1000") -> list[Timed]:
    results = fire_together(base_url + path, USERS)
    assert [result.status for result in results] == [200] * USERS
    return results


class Boom(Exception):
    pass


def test_the_throwaway_postgres_is_unprivileged_on_loopback_and_always_stopped(
    tmp_path: Path,
) -> None:
    port = free_port()
    with pytest.raises(Boom), running_postgres(tmp_path, port) as cluster:  # noqa: PT012
        pid = int((cluster.data_dir / "postmaster.pid").read_text().split()[0])
        server = psutil.Process(pid)
        assert server.uids().real != 0, "PostgreSQL must not run as root"
        listening = {
            (c.laddr.ip, c.laddr.port)
            for c in server.net_connections("tcp")
            if c.status == psutil.CONN_LISTEN
        }
        assert listening == {(LOOPBACK, port)}
        seed(cluster.url)  # idempotent: a second seed adds nothing
        with psycopg.connect(cluster.url) as connection:
            count = connection.execute("SELECT count(*) FROM bench_items").fetchone()
        assert count == (ROW_COUNT,)
        raise Boom
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert port_is_free(port)


@pytest.mark.parametrize("row", ROWS, ids=ROW_IDS)
def test_db_endpoints_and_pool_metrics_on_every_row(
    row: Row, database_url: str, tmp_path: Path
) -> None:
    """Two workers where the server has them: one pool each, counted once each."""
    settings = load_settings(row.name, {"BENCH_WORKERS": "2", "BENCH_DB_POOL": "3"})
    knobs = {"workers": 2, "db_pool": 3, "database_url": database_url}
    with running_row(row.name, tmp_path, extra_knobs=knobs) as server:
        for _ in range(2 * settings.workers):  # reach every worker's pool
            query = httpx.get(f"{server.base_url}/db/query", timeout=10)
            assert query.status_code == 200, query.text
            assert query.json()["name"] == f"item-{query.json()['id']}"
        with in_background(f"{server.base_url}/db/sleep?ms=2000", 2):
            wait_for(lambda: scrape(server.metrics_url).value("bench_db_pool_in_use") == 2)
        wait_for(lambda: scrape(server.metrics_url).value("bench_db_pool_in_use") == 0)
        settle()
        after = scrape(server.metrics_url)
    assert after.value("bench_db_pool_waiting") == 0
    assert after.value("bench_db_pool_wait_seconds_count") == 2 * settings.workers + 2
    # Each worker that served a request opened its own pool of 3.
    assert 3 <= after.value("bench_db_pool_size") <= 3 * settings.workers


def _three_user_cases() -> list[tuple[str, bool]]:
    """Every row with one worker: it queues the users where it has fewer slots than
    users (a sync worker), and overlaps them otherwise, the pool (10) being larger."""
    cases = []
    for row in ROWS:
        slots = load_settings(row.name, {"BENCH_WORKERS": "1"}).total_slots
        cases.append((row.name, slots is not None and slots < USERS))
    return cases


THREE_USER_CASES = _three_user_cases()


@pytest.mark.parametrize(
    ("row", "serialises"), THREE_USER_CASES, ids=[row for row, _ in THREE_USER_CASES]
)
def test_three_users_on_the_database(
    row: str, serialises: bool, database_url: str, tmp_path: Path
) -> None:
    """flask-sync and django-wsgi queue them (~1/2/3 s); everything else overlaps (~1 s).

    flask-gevent overlaps only because psycopg waits through gevent's patched
    select: its C wait function would block the hub (docs/database.md).
    """
    with running_row(row, tmp_path, workers=1, database_url=database_url) as server:
        assert httpx.get(f"{server.base_url}/db/query", timeout=10).status_code == 200
        results = three_users(server.base_url)
    times = sorted(result.elapsed_s for result in results)
    if serialises:
        assert spread(results) >= SERIALISED, times
        assert times[1] / times[0] >= 1.4, times
    else:
        assert spread(results) <= OVERLAPPED, times


@pytest.mark.parametrize("path", ["/db/sleep?ms=1000", "/db/thread/sleep?ms=1000"])
def test_fastapi_overlaps_three_users_with_psycopg_too(
    path: str, database_url: str, tmp_path: Path
) -> None:
    """BENCH_DB_DRIVER=psycopg (its AsyncConnectionPool), and the thread-pool endpoint."""
    knobs = {"database_url": database_url, "db_driver": "psycopg"}
    with running_row("fastapi-async", tmp_path, extra_knobs=knobs) as server:
        first = httpx.get(f"{server.base_url}{path.replace('1000', '1')}", timeout=10)
        assert first.json()["driver"] == ("psycopg" if "thread" in path else "psycopg-async")
        results = three_users(server.base_url, path)
    assert spread(results) <= OVERLAPPED, [result.elapsed_s for result in results]


def test_a_pool_of_two_makes_the_third_user_wait(database_url: str, tmp_path: Path) -> None:
    """~1/1/2 s, and while the third waits the waiting gauge shows it."""
    knobs = {"database_url": database_url, "db_pool": 2}
    with running_row("fastapi-async", tmp_path, extra_knobs=knobs) as server:
        httpx.get(f"{server.base_url}/db/query", timeout=10)
        with ThreadPoolExecutor(max_workers=1) as pool:
            future = pool.submit(three_users, server.base_url, "/db/sleep?ms=2000")
            wait_for(lambda: scrape(server.metrics_url).value("bench_db_pool_waiting") == 1)
            during = scrape(server.metrics_url)
            results = future.result(timeout=30)
        settle()
        after = scrape(server.metrics_url)
    times = sorted(result.elapsed_s for result in results)
    assert times[1] / times[0] <= OVERLAPPED, times
    assert times[2] / times[0] >= 1.6, times
    assert during.value("bench_db_pool_in_use") == 2
    assert during.value("bench_db_pool_size") == 2
    assert (after.value("bench_db_pool_waiting"), after.value("bench_db_pool_in_use")) == (0, 0)
    # The third request waited about one sleep for its connection.
    wait = "bench_db_pool_wait_seconds"
    assert after.value(f"{wait}_count") - after.value(f"{wait}_bucket", le="1.1") == 1


FAULT_ROWS = ["flask-sync", "flask-gevent", "fastapi-async", "django-wsgi", "django-asgi"]


@pytest.mark.parametrize("row", FAULT_ROWS)
def test_database_down_is_a_503_naming_it(row: str, tmp_path: Path) -> None:
    """The first request waits at most the wait bound; once the row knows the database
    is down, the next ones are answered at once."""
    port = free_port()
    nothing_listens = f"postgresql://bench@127.0.0.1:{port}/bench"
    knobs = {"database_url": nothing_listens, "db_wait_ms": 3000}
    elapsed = []
    with running_row(row, tmp_path, extra_knobs=knobs) as server:
        for path in ("/db/query", "/db/sleep?ms=10", "/db/query"):
            started = time.perf_counter()
            response = httpx.get(f"{server.base_url}{path}", timeout=15)
            elapsed.append(time.perf_counter() - started)
            assert response.status_code == 503, response.text
            error = response.json()["error"]
            assert error.startswith(f"database unavailable: PostgreSQL at 127.0.0.1:{port}/bench")
    assert elapsed[0] < 6.0, elapsed  # the wait bound and one probe, never a hang
    assert max(elapsed[1:]) < 1.0, elapsed


@pytest.mark.parametrize("row", ["flask-threads", "fastapi-async", "django-asgi"])
def test_an_exhausted_pool_is_a_503_after_the_wait_bound(
    row: str, database_url: str, tmp_path: Path
) -> None:
    knobs = {"database_url": database_url, "db_pool": 1, "db_wait_ms": 300}
    with running_row(row, tmp_path, extra_knobs=knobs) as server:
        httpx.get(f"{server.base_url}/db/query", timeout=10)
        with in_background(f"{server.base_url}/db/sleep?ms=3000", 1):
            wait_for(lambda: scrape(server.metrics_url).value("bench_db_pool_in_use") == 1)
            started = time.perf_counter()
            response = httpx.get(f"{server.base_url}/db/query", timeout=10)
            waited = time.perf_counter() - started
    assert response.status_code == 503, response.text
    assert response.json()["error"].startswith("database pool exhausted")
    assert "within 300 ms (pool of 1" in response.json()["error"]
    assert 0.25 <= waited < 2.5


@pytest.mark.parametrize("row", ["flask-sync", "fastapi-async", "django-wsgi", "django-asgi"])
def test_the_statement_timeout_bounds_every_query(
    row: str, database_url: str, tmp_path: Path
) -> None:
    knobs = {"database_url": database_url, "db_statement_timeout_ms": 300}
    with running_row(row, tmp_path, extra_knobs=knobs) as server:
        started = time.perf_counter()
        response = httpx.get(f"{server.base_url}/db/sleep?ms=3000", timeout=10)
        elapsed = time.perf_counter() - started
        after = httpx.get(f"{server.base_url}/db/query", timeout=10)
    assert response.status_code == 504, response.text
    assert response.json()["error"].startswith("database statement timeout")
    assert elapsed < 2.0
    assert after.status_code == 200  # the cancelled query's connection is still usable


RESTART_CASES = [
    ("flask-sync", "psycopg"),
    ("flask-gevent", "psycopg"),
    ("fastapi-async", "asyncpg"),
    ("fastapi-async", "psycopg"),
    ("django-wsgi", "psycopg"),
    ("django-asgi", "psycopg"),
]


@pytest.mark.parametrize(
    ("row", "driver"), RESTART_CASES, ids=[f"{row}-{driver}" for row, driver in RESTART_CASES]
)
def test_pools_recover_after_a_database_restart(row: str, driver: str, tmp_path: Path) -> None:
    """A pool of one, so that the outage is seen through every path: the pooled
    connection the restart broke, the pool that cannot reconnect, the fast failure."""
    with running_postgres(tmp_path / "db", free_port()) as cluster:
        knobs = {
            "database_url": cluster.url,
            "db_driver": driver,
            "db_wait_ms": 1000,
            "db_pool": 1,
        }
        with running_row(row, tmp_path, extra_knobs=knobs) as server:
            url = f"{server.base_url}/db/query"
            assert httpx.get(url, timeout=10).status_code == 200
            cluster.stop()
            for _ in range(3):
                down = httpx.get(url, timeout=15)
                assert down.status_code == 503, down.text
                assert "database unavailable" in down.json()["error"]
            assert down.elapsed.total_seconds() < 1.0
            cluster.start()
            statuses = []
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                response = httpx.get(url, timeout=15)
                statuses.append(response.status_code)
                if response.status_code == 200:
                    break
                time.sleep(0.2)
    assert statuses[-1] == 200, statuses
    assert set(statuses) <= {200, 503}, statuses  # never a 500 on the way
