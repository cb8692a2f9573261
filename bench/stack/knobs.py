"""Row knobs of the stack: the same variable names in .env, compose and native mode.

Each row's tunables are named after the row, e.g. FLASK_SYNC_WORKERS or
FLASK_GEVENT_CONNECTIONS, so one .env file can hold different worker counts for
every row. docker-compose.yml maps them onto the row's BENCH_* variables; the
native stack does the same mapping here. Which knobs a row has, and how each
is validated, its server module says (services/servers). Values come from the environment
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
from services.servers import Knob, SettingsError, get_server

DOTENV_PATH = REPO_ROOT / ".env"


def knob_prefix(row: Row) -> str:
    """FLASK_SYNC for flask-sync."""
    return row.name.upper().replace("-", "_")


def row_knobs(row: Row) -> dict[str, str]:
    """The row's knob names mapped to the BENCH_* setting each one sets."""
    prefix = knob_prefix(row)
    return {f"{prefix}_{knob.suffix}": knob.setting for knob in _knobs(row)}


def _knobs(row: Row) -> tuple[Knob, ...]:
    # The server module declares them (services/servers): nothing to tune is ().
    return get_server(row.server).knobs(row.worker_class)


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

    Each is validated by its server's Knob, under the row knob's own name.
    """
    env = {}
    prefix = knob_prefix(row)
    for knob in _knobs(row):
        name = f"{prefix}_{knob.suffix}"
        raw = knobs.get(name, "").strip()
        if not raw:
            continue
        try:
            env[knob.setting] = knob.parse(name, raw)
        except SettingsError as error:
            raise KnobError(str(error)) from None
    return env
