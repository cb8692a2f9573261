"""The seeded table every row queries, and the two workload statements.

The seed is deterministic (a function of the row id), so every run and every
machine queries the same data. bench/postgres.py creates it; a user's own
database (BENCH_DATABASE_URL) is seeded the same way.
"""

from __future__ import annotations

import datetime
import random
from typing import Any

# Spelled out in the statements below (literal SQL, no string building).
TABLE = "bench_items"
ROW_COUNT = 100_000

CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS bench_items (
    id integer PRIMARY KEY,
    name text NOT NULL,
    score integer NOT NULL,
    created date NOT NULL
)
"""
# Ids 1..ROW_COUNT; existing rows are left as they are, so seeding is idempotent.
SEED_ROWS = """
INSERT INTO bench_items (id, name, score, created)
SELECT i, 'item-' || i, (i * 7919) % 1000, DATE '2020-01-01' + (i % 1000)
FROM generate_series(1, 100000) AS i
ON CONFLICT (id) DO NOTHING
"""
COUNT_ROWS = "SELECT count(*) FROM bench_items"

# Placeholders differ by driver: psycopg uses %s, asyncpg $1.
SLEEP_PSYCOPG = "SELECT pg_sleep(%s)"
SLEEP_ASYNCPG = "SELECT pg_sleep($1)"
QUERY_PSYCOPG = "SELECT id, name, score, created FROM bench_items WHERE id = %s"
QUERY_ASYNCPG = "SELECT id, name, score, created FROM bench_items WHERE id = $1"


def random_id() -> int:
    """A uniformly random id of the seeded table."""
    return random.randint(1, ROW_COUNT)


def item_body(row: Any) -> dict[str, Any]:
    """JSON body of one looked-up row (a tuple or a record: id, name, score, created)."""
    item_id, name, score, created = row
    return {"id": item_id, "name": name, "score": score, "created": created.isoformat()}


def expected_item(item_id: int) -> dict[str, Any]:
    """What the seed put at ``item_id`` (the tests check the answers against it)."""
    created = datetime.date(2020, 1, 1) + datetime.timedelta(days=item_id % 1000)
    return {
        "id": item_id,
        "name": f"item-{item_id}",
        "score": (item_id * 7919) % 1000,
        "created": created.isoformat(),
    }


def slept_body(ms: int, driver: str) -> dict[str, Any]:
    """/db/sleep's answer: how long the database held the connection, through which driver."""
    return {"slept_ms": ms, "driver": driver}


def item_answer(item: dict[str, Any], driver: str) -> dict[str, Any]:
    """/db/query's answer: the row, and the driver that fetched it."""
    return {**item, "driver": driver}
