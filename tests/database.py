"""The test suite's PostgreSQL: planned at import, started once per session when asked.

The URL is fixed before anything starts, because Django reads its database
settings once per process (tests/rowclients.py sets them up with this URL).
BENCH_DATABASE_URL, when set, is used instead: that database is seeded, never
started or stopped here.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench.postgres import DATABASE, SUPERUSER, running_postgres, seed
from bench.procs import LOOPBACK, stable_free_ports

USER_URL = os.environ.get("BENCH_DATABASE_URL", "").strip()
# Below the ephemeral range: nothing the tests connect out with can take it.
PLANNED_PORT = stable_free_ports(1)[0]
TEST_DATABASE_URL = USER_URL or f"postgresql://{SUPERUSER}@{LOOPBACK}:{PLANNED_PORT}/{DATABASE}"


@contextmanager
def seeded_database(run_dir: Path) -> Iterator[str]:
    """The seeded test database for the block; yields its URL."""
    if USER_URL:
        seed(USER_URL)
        yield USER_URL
        return
    with running_postgres(run_dir, PLANNED_PORT) as cluster:
        yield cluster.url
