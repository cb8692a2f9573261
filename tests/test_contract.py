"""Every endpoint on every row, in-process: good input, bad input, unknown paths."""

from __future__ import annotations

import pytest

from services.database.schema import ROW_COUNT, expected_item
from services.endpoints import CPU_N, ENDPOINTS, MS, SEED_MS, endpoints_for
from services.rows import ROWS, Row
from tests.rowclients import row_client

ROW_IDS = [row.name for row in ROWS]


def served_paths(row: Row) -> set[str]:
    return {endpoint.path for endpoint in endpoints_for(row.interface)}


def paths_taking_ms(row: Row) -> set[str]:
    return {e.path for e in endpoints_for(row.interface) if [p.name for p in e.params] == ["ms"]}


def expected_driver(row: Row, path: str) -> str:
    """The driver and pool each row kind uses (docs/database.md)."""
    if row.framework == "django":
        return "django-orm"  # the ORM on Django's psycopg pool, /db/thread/* too
    if row.is_async and not path.startswith("/db/thread/"):
        return "asyncpg"  # BENCH_DB_DRIVER's default
    return "psycopg"  # psycopg_pool.ConnectionPool: WSGI rows and /db/thread/*


@pytest.mark.parametrize("row", ROWS, ids=ROW_IDS)
def test_db_endpoints_answer_from_the_seeded_table(row: Row, database_url: str) -> None:
    db_paths = sorted(path for path in served_paths(row) if path.startswith("/db/"))
    assert {"/db/sleep", "/db/query"} <= set(db_paths)
    assert ("/db/thread/sleep" in db_paths) == row.is_async
    with row_client(row) as client:
        for path in db_paths:
            if path.endswith("/sleep"):
                answer = client.get(f"{path}?ms=5")
                assert answer.status == 200, (path, answer.body)
                assert answer.body == {"slept_ms": 5, "driver": expected_driver(row, path)}
                continue
            ids = set()
            for _ in range(5):
                answer = client.get(path)
                assert answer.status == 200, (path, answer.body)
                item = dict(answer.body)
                assert item.pop("driver") == expected_driver(row, path)
                assert 1 <= item["id"] <= ROW_COUNT
                assert item == expected_item(item["id"])
                ids.add(item["id"])
            assert len(ids) > 1, f"{path} should look up random rows, got {ids}"


@pytest.mark.parametrize("row", ROWS, ids=ROW_IDS)
def test_hello_names_the_row(row: Row) -> None:
    with row_client(row) as client:
        answer = client.get("/hello")
    assert answer.status == 200
    assert answer.body["service"] == row.name
    assert answer.body["framework"] == row.framework
    assert answer.body["interface"] == row.interface
    assert answer.body["server"] == row.server
    # ASGI rows name the event loop that answered (docs/metrics.md).
    assert ("loop" in answer.body) == row.is_async


@pytest.mark.parametrize("row", ROWS, ids=ROW_IDS)
def test_health(row: Row) -> None:
    with row_client(row) as client:
        assert client.get("/health").status == 200


@pytest.mark.parametrize("row", ROWS, ids=ROW_IDS)
def test_sleep_endpoints_sleep_as_the_row_does(row: Row) -> None:
    with row_client(row) as client:
        for path in sorted(
            served_paths(row) & {"/io", "/io/blocking", "/io/thread", "/sync", "/async"}
        ):
            answer = client.get(f"{path}?ms=3")
            assert answer.status == 200, (path, answer.body)
            assert answer.body["slept_ms"] == 3
            expected_how = (
                "await asyncio.sleep" if path in {"/io", "/async"} and row.is_async else None
            )
            if expected_how:
                assert answer.body["how"] == expected_how
            if path in {"/io/blocking", "/io/thread"} or not row.is_async:
                assert "time.sleep" in answer.body["how"]


@pytest.mark.parametrize("row", ROWS, ids=ROW_IDS)
def test_seed_endpoint_only_where_it_belongs(row: Row) -> None:
    other = "/sync" if row.is_async else "/async"
    with row_client(row) as client:
        assert client.get(f"{row.seed_path}?ms=1").status == 200
        answer = client.get(f"{other}?ms=1")
    assert answer.status == 404
    assert other in answer.body["error"]


@pytest.mark.parametrize("row", ROWS, ids=ROW_IDS)
def test_cpu_returns_a_checksum_that_depends_on_n(row: Row) -> None:
    with row_client(row) as client:
        small, large = client.get("/cpu?n=10"), client.get("/cpu?n=2000")
    assert small.status == large.status == 200
    assert small.body["n"] == 10
    assert small.body["checksum"] == sum(i * i for i in range(10)) % 1_000_003
    assert large.body["checksum"] == sum(i * i for i in range(2000)) % 1_000_003


@pytest.mark.parametrize("row", [r for r in ROWS if r.interface == "wsgi"], ids=lambda r: r.name)
def test_asgi_only_endpoints_are_404_on_wsgi_rows(row: Row) -> None:
    with row_client(row) as client:
        for path in ("/io/blocking", "/io/thread", "/async"):
            answer = client.get(f"{path}?ms=1")
            assert answer.status == 404, path
            assert "error" in answer.body


BAD_QUERIES = [
    ("ms=abc", "ms must be an integer between 0 and 60000"),
    ("ms=-1", "got -1"),
    ("ms=60001", "got 60001"),
    ("ms=1.5", "ms must be an integer"),
    ("ms=", "ms must be an integer"),
    ("ms=1_000", "ms must be an integer"),
    ("ms=99999999999999999999", "ms must be an integer"),
    ("ms=1&ms=2", "given more than once"),
    ("ms=1&verbose=1", "unknown parameter 'verbose'"),
]


@pytest.mark.parametrize("row", ROWS, ids=ROW_IDS)
@pytest.mark.parametrize(("query", "message"), BAD_QUERIES, ids=[q for q, _ in BAD_QUERIES])
def test_bad_sleep_parameters_are_400_with_a_message(row: Row, query: str, message: str) -> None:
    with row_client(row) as client:
        for path in sorted(paths_taking_ms(row)):
            answer = client.get(f"{path}?{query}")
            assert answer.status == 400, (path, query, answer.body)
            assert message in answer.body["error"], (path, answer.body)


@pytest.mark.parametrize("row", ROWS, ids=ROW_IDS)
def test_bad_cpu_and_hello_parameters(row: Row) -> None:
    with row_client(row) as client:
        too_big = client.get(f"/cpu?n={CPU_N.maximum + 1}")
        assert too_big.status == 400
        assert too_big.body == {
            "error": f"n must be an integer between 0 and {CPU_N.maximum} (loop iterations), "
            f"got {CPU_N.maximum + 1}",
            "param": "n",
            "max": CPU_N.maximum,
        }
        assert client.get("/cpu?ms=5").status == 400  # the wrong parameter name
        for path in ("/hello", "/db/query"):
            answer = client.get(f"{path}?x=1")
            assert answer.status == 400, path
            assert "unknown parameter 'x'" in answer.body["error"]


@pytest.mark.parametrize("row", ROWS, ids=ROW_IDS)
def test_unknown_path_and_wrong_method(row: Row) -> None:
    with row_client(row) as client:
        missing = client.get("/does-not-exist")
        assert missing.status == 404
        assert "/does-not-exist" in missing.body["error"]
        wrong_method = client.post("/hello")
        assert wrong_method.status == 405
        assert "POST" in wrong_method.body["error"]


def test_documented_maxima() -> None:
    # docs/endpoints.md states these; a change here is a contract change.
    assert (MS.default, MS.maximum) == (100, 60_000)
    assert (SEED_MS.default, SEED_MS.maximum) == (5_000, 60_000)
    assert (CPU_N.default, CPU_N.maximum) == (100_000, 5_000_000)
    assert {e.path for e in ENDPOINTS} == {
        "/hello", "/io", "/io/blocking", "/io/thread", "/cpu", "/downstream", "/sync", "/async",
        "/db/sleep", "/db/query", "/db/thread/sleep", "/db/thread/query",
    }  # fmt: skip
