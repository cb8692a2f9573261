"""Row knobs of the stack: the same variable names in .env, compose and native mode.

Each row's tunables are named after the row, e.g. FLASK_SYNC_WORKERS or
FLASK_GEVENT_CONNECTIONS, so one .env file can hold different worker counts for
every row. docker-compose.yml maps them onto the row's BENCH_* variables; the
native stack does the same mapping here. Values come from the environment
first, then from the repository's .env file (as compose resolves them), then
from the documented defaults in services.settings.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from dotenv import dotenv_values

from bench.paths import REPO_ROOT
from services.rows import Row

DOTENV_PATH = REPO_ROOT / ".env"

# Which BENCH_* setting each knob suffix feeds, per worker model. Uvicorn rows
# run one process with one event loop: nothing to tune there.
_KNOBS_BY_WORKER_CLASS: dict[str, tuple[tuple[str, str], ...]] = {
    "sync": (("WORKERS", "BENCH_WORKERS"),),
    "gthread": (("WORKERS", "BENCH_WORKERS"), ("THREADS", "BENCH_THREADS")),
    "gevent": (("WORKERS", "BENCH_WORKERS"), ("CONNECTIONS", "BENCH_WORKER_CONNECTIONS")),
    "uvicorn-worker": (("WORKERS", "BENCH_WORKERS"),),
    "uvicorn": (),
}


def knob_prefix(row: Row) -> str:
    """FLASK_SYNC for flask-sync."""
    return row.name.upper().replace("-", "_")


def row_knobs(row: Row) -> dict[str, str]:
    """The row's knob names mapped to the BENCH_* setting each one sets."""
    prefix = knob_prefix(row)
    pairs = _KNOBS_BY_WORKER_CLASS[row.worker_class]
    return {f"{prefix}_{suffix}": bench_name for suffix, bench_name in pairs}


def read_dotenv(path: Path = DOTENV_PATH) -> dict[str, str]:
    """The KEY=VALUE pairs of a .env file (empty when there is none)."""
    if not path.is_file():
        return {}
    return {key: value for key, value in dotenv_values(path).items() if value is not None}


def knob_values(env: Mapping[str, str] | None = None, dotenv: Path = DOTENV_PATH) -> dict[str, str]:
    """Every knob setting in force: the environment overrides the .env file."""
    environ = os.environ if env is None else env
    return {**read_dotenv(dotenv), **environ}


class KnobError(ValueError):
    """A row knob with a value the row cannot use."""


def row_bench_env(row: Row, knobs: Mapping[str, str]) -> dict[str, str]:
    """BENCH_* variables set by the row's knobs that have a value in ``knobs``.

    Every knob is a count (workers, threads, connections): a whole number >= 1.
    """
    env = {}
    for knob, bench_name in row_knobs(row).items():
        raw = knobs.get(knob, "").strip()
        if not raw:
            continue
        try:
            value = int(raw)
        except ValueError:
            raise KnobError(f"{knob}={raw!r} is not a whole number") from None
        if value < 1:
            raise KnobError(f"{knob}={value} must be at least 1")
        env[bench_name] = str(value)
    return env
