"""`python -m bench.stack.seed`, the compose stack's postgres-seed, on a real PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys

import psycopg
import pytest

from bench.procs import free_port
from services.database.schema import COUNT_ROWS, ROW_COUNT

pytestmark = pytest.mark.live


def _seed(url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bench.stack.seed"],
        env={"PATH": os.environ["PATH"], "BENCH_DATABASE_URL": url},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_seed_module_seeds_the_table_and_says_where(database_url: str) -> None:
    seeded = _seed(database_url)
    assert seeded.returncode == 0, seeded.stderr
    assert "bench_items (100000 rows) ready in PostgreSQL at 127.0.0.1:" in seeded.stdout
    # Idempotent: compose runs it at every `up`, on a volume seeded before.
    assert _seed(database_url).returncode == 0
    with psycopg.connect(database_url, connect_timeout=10) as connection:
        row = connection.execute(COUNT_ROWS).fetchone()
    assert row is not None
    assert row[0] == ROW_COUNT


def test_the_seed_module_fails_in_one_line_without_the_password() -> None:
    port = free_port()
    failed = _seed(f"postgresql://bench:not-to-be-printed@127.0.0.1:{port}/bench")
    assert failed.returncode == 1
    assert f"seed: cannot seed PostgreSQL at 127.0.0.1:{port}/bench: " in failed.stderr
    assert "not-to-be-printed" not in failed.stdout + failed.stderr
    assert "Traceback" not in failed.stderr
