"""What a failed database call answers: a JSON 503 or 504 naming the database, never a 500."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit


@dataclass
class DatabaseError(Exception):
    """The database could not answer; ``status`` is 503 (down, pool exhausted) or 504."""

    status: int
    message: str

    def body(self) -> dict[str, Any]:
        return {"error": self.message}


def describe(url: str) -> str:
    """``host:port/dbname`` of a database URL, without user or password."""
    parts = urlsplit(url)
    if not parts.hostname:
        return "the configured database"
    port = f":{parts.port}" if parts.port else ""
    return f"PostgreSQL at {parts.hostname}{port}{parts.path}"


def unreachable(url: str, error: BaseException) -> DatabaseError:
    return DatabaseError(503, f"database unavailable: {describe(url)}: {_reason(error)}")


def pool_exhausted(url: str, wait_ms: int, pool: int) -> DatabaseError:
    return DatabaseError(
        503,
        f"database pool exhausted: no connection to {describe(url)} free within "
        f"{wait_ms} ms (pool of {pool}; BENCH_DB_POOL, BENCH_DB_WAIT_MS)",
    )


def statement_timeout(url: str, timeout_ms: int) -> DatabaseError:
    return DatabaseError(
        504,
        f"database statement timeout: {describe(url)} cancelled the query after "
        f"{timeout_ms} ms (BENCH_DB_STATEMENT_TIMEOUT_MS)",
    )


def _reason(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return text or type(error).__name__
