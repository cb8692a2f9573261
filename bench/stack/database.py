"""The native stack's PostgreSQL: started before the rows, stopped after them.

PostgreSQL is not a supervisord program: it must run as an unprivileged
user with a data directory that user owns (bench/postgres.py), and pg_ctl
already starts, waits for and stops it reliably. The stack runs it in the
state directory on 127.0.0.1:5455 (+ BENCH_PORT_OFFSET), seeded; the data
directory is kept between runs. With BENCH_DATABASE_URL set nothing is
started: the rows use that database, which is seeded at `bench up`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import psycopg

from bench.postgres import (
    DATABASE,
    SUPERUSER,
    PostgresError,
    cluster_in,
    discard_if_outside,
    existing_cluster,
    find_bin_dir,
    seed,
    start_cluster,
)
from bench.procs import LOOPBACK
from services.settings import DEFAULT_DATABASE_PORT

DATABASE_PROGRAM = "postgres"


@dataclass(frozen=True)
class DatabasePlan:
    """Which database the rows use and whether the stack starts it."""

    url: str
    # Where the stack's own PostgreSQL listens; None: it starts none (the
    # user's database, or PostgreSQL is not installed: see `missing`).
    port: int | None
    external: bool = False  # BENCH_DATABASE_URL: seeded at start, never started or stopped
    missing: str | None = None  # why the stack cannot start its own, and how to get it


def database_plan(offset: int, env: Mapping[str, str]) -> DatabasePlan:
    """The rows' database: the user's, the stack's own, or (not installed) none."""
    url = env.get("BENCH_DATABASE_URL", "").strip()
    if url:
        return DatabasePlan(url, None, external=True)
    try:
        find_bin_dir()
    except PostgresError as error:
        return DatabasePlan(default_database_url(offset), None, missing=str(error))
    return DatabasePlan(default_database_url(offset), DEFAULT_DATABASE_PORT + offset)


def default_database_url(offset: int) -> str:
    """The URL the rows get when the stack's own PostgreSQL cannot run (/db/* answers 503)."""
    return f"postgresql://{SUPERUSER}@{LOOPBACK}:{DEFAULT_DATABASE_PORT + offset}/{DATABASE}"


def start_database(plan: DatabasePlan, state_dir: Path) -> None:
    """Start and seed the stack's PostgreSQL, or seed the user's; PostgresError if not."""
    if plan.external:
        try:
            seed(plan.url)
        except psycopg.Error as error:
            raise PostgresError(f"BENCH_DATABASE_URL: cannot seed {plan.url}: {error}") from None
        return
    if plan.port is not None:
        start_cluster(cluster_in(state_dir, plan.port))


def stop_database(state_dir: Path) -> None:
    """Stop the stack's PostgreSQL of ``state_dir`` if it runs (nothing else is touched).

    Its data stays in the state directory for the next start; a cluster that
    had to live in /tmp (a state directory the PostgreSQL user cannot reach)
    is removed.
    """
    cluster = existing_cluster(state_dir)
    if cluster is None:
        return  # never started here, or no PostgreSQL installed
    cluster.stop()
    discard_if_outside(cluster, state_dir)
