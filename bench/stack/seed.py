"""Seed the rows' database and exit: `python -m bench.stack.seed` (compose's postgres-seed).

The compose stack runs this once per `up`, after PostgreSQL is healthy and
before any row starts, so every row finds the same table the native stack
seeds (bench/postgres.py ``seed``, the SQL of services/database/schema.py):
one seeding code for both modes. Idempotent, so it runs at every `up`.
"""

from __future__ import annotations

import os
import sys
import time

import psycopg

from bench.postgres import seed
from services.database.errors import describe
from services.database.schema import ROW_COUNT, TABLE
from services.settings import DEFAULT_DATABASE_URL

# pg_isready (the compose healthcheck) can say "accepting" a moment before a
# first connection over the network succeeds; a few short retries cover that
# without hiding a database that is really down.
ATTEMPTS = 10
RETRY_S = 1.0


def main() -> int:
    """0 once the table is seeded; 1 with the reason (no traceback) when it cannot be."""
    url = os.environ.get("BENCH_DATABASE_URL", "").strip() or DEFAULT_DATABASE_URL
    where = describe(url)  # never prints the password
    for attempt in range(1, ATTEMPTS + 1):
        try:
            seed(url)
        except psycopg.Error as error:
            reason = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
            if attempt == ATTEMPTS:
                print(f"seed: cannot seed {where}: {reason}", file=sys.stderr)
                return 1
            time.sleep(RETRY_S)
            continue
        print(f"seed: {TABLE} ({ROW_COUNT} rows) ready in {where}", flush=True)
        return 0
    return 1  # not reached: the loop returns


if __name__ == "__main__":
    sys.exit(main())
