"""`sab-serve ROW`: the one command per row prints what it runs; bad input is clear."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from bench.procs import running_row
from services.rows import ROWS, Row
from services.serve import build_command, build_env
from services.settings import load_settings


def sab_serve(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "services.serve", *args],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, **env},
        check=False,
    )


@pytest.mark.parametrize("row", ROWS, ids=[r.name for r in ROWS])
def test_print_only_shows_the_server_command(row: Row) -> None:
    result = sab_serve(row.name, "--print-only", BENCH_PORT="", BENCH_WORKERS="")
    assert result.returncode == 0, result.stderr
    printed = result.stdout.strip()
    assert printed.split() == build_command(load_settings(row.name, {}))
    assert row.app in printed
    assert f"127.0.0.1:{row.port}" in printed or str(row.port) in printed


def test_gunicorn_rows_get_their_worker_model() -> None:
    sync = build_command(load_settings("flask-sync", {"BENCH_WORKERS": "3"}))
    assert sync[sync.index("--workers") + 1] == "3"
    assert sync[sync.index("--worker-class") + 1] == "sync"
    threads = build_command(load_settings("flask-threads", {"BENCH_THREADS": "8"}))
    assert threads[threads.index("--threads") + 1] == "8"
    gevent = build_command(load_settings("flask-gevent", {"BENCH_WORKER_CONNECTIONS": "50"}))
    assert gevent[gevent.index("--worker-connections") + 1] == "50"
    asgi = build_command(load_settings("fastapi-gunicorn", {}))
    assert asgi[asgi.index("--worker-class") + 1] == "uvicorn_worker.UvicornWorker"
    uvicorn = build_command(load_settings("django-asgi", {"BENCH_PORT": "9999"}))
    assert uvicorn[:2] == ["uvicorn", "services.django_app.asgi:app"]
    assert uvicorn[uvicorn.index("--port") + 1] == "9999"
    assert uvicorn[uvicorn.index("--loop") + 1] == "uvloop"


def test_the_asgi_worker_and_the_loop_knob() -> None:
    gasgi = build_command(load_settings("fastapi-gunicorn-asgi", {"BENCH_WORKERS": "2"}))
    assert gasgi[0] == "gunicorn"
    assert gasgi[gasgi.index("--worker-class") + 1] == "asgi"
    assert gasgi[gasgi.index("--workers") + 1] == "2"
    assert gasgi[gasgi.index("--asgi-loop") + 1] == "uvloop"
    assert gasgi[gasgi.index("--asgi-lifespan") + 1] == "on"
    stock = build_command(load_settings("fastapi-asyncio", {}))
    assert stock[stock.index("--loop") + 1] == "asyncio"
    switched = build_command(load_settings("fastapi-async", {"BENCH_LOOP": " AsyncIO "}))
    assert switched[switched.index("--loop") + 1] == "asyncio"


def test_granian_rows_get_their_interface_and_pool() -> None:
    wsgi = build_command(
        load_settings("flask-granian", {"BENCH_WORKERS": "2", "BENCH_THREADS": "8"})
    )
    assert wsgi[:3] == ["python", "-m", "services.servers.granian"]
    assert wsgi[wsgi.index("--interface") + 1] == "wsgi"
    assert wsgi[wsgi.index("--workers") + 1] == "2"
    assert wsgi[wsgi.index("--blocking-threads") + 1] == "8"
    assert "--loop" not in wsgi
    asgi = build_command(load_settings("fastapi-granian", {"BENCH_THREADS": "8"}))
    assert asgi[asgi.index("--interface") + 1] == "asgi"
    assert asgi[asgi.index("--loop") + 1] == "uvloop"
    assert "--blocking-threads" not in asgi  # Granian refuses more than 1 on ASGI
    assert load_settings("flask-granian", {"BENCH_THREADS": "8"}).total_slots == 8
    assert load_settings("fastapi-granian", {}).total_slots is None
    assert "--metrics" in asgi
    bare = build_command(load_settings("flask-granian", {"BENCH_INSTRUMENTATION": "off"}))
    assert "--metrics" not in bare  # Granian's exporter is part of the metrics' cost


def test_a_knob_of_another_server_is_not_exported() -> None:
    """BENCH_THREADS means nothing to uvicorn: it does not reach its environment."""
    settings = load_settings("fastapi-async", {"BENCH_THREADS": "8", "BENCH_WORKERS": "3"})
    env = build_env(settings, {"PROMETHEUS_MULTIPROC_DIR": "/stale"})
    assert "BENCH_THREADS" not in env
    assert "BENCH_WORKERS" not in env
    assert "PROMETHEUS_MULTIPROC_DIR" not in env  # in-process metrics
    gunicorn = build_env(load_settings("flask-sync", {}), {"PROMETHEUS_MULTIPROC_DIR": "/stale"})
    assert gunicorn["PROMETHEUS_MULTIPROC_DIR"].endswith("/sab-metrics/flask-sync-8001")


def test_a_bad_loop_is_a_clear_error() -> None:
    result = sab_serve("fastapi-async", "--print-only", BENCH_LOOP="tokio")
    assert result.returncode == 2
    assert "BENCH_LOOP='tokio' must be 'uvloop' or 'asyncio'" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_database_settings_reach_every_row_and_the_driver_only_async_ones() -> None:
    env = {"BENCH_DATABASE_URL": "postgresql://u@db.example:5432/x", "BENCH_DB_POOL": "3"}
    sync_env = load_settings("flask-sync", env).environment()
    async_env = load_settings("fastapi-async", {**env, "BENCH_DB_DRIVER": "psycopg"}).environment()
    for built in (sync_env, async_env):
        assert built["BENCH_DATABASE_URL"] == env["BENCH_DATABASE_URL"]
        assert (built["BENCH_DB_POOL"], built["BENCH_DB_WAIT_MS"]) == ("3", "10000")
        assert built["BENCH_DB_STATEMENT_TIMEOUT_MS"] == "65000"
    assert "BENCH_DB_DRIVER" not in sync_env  # a WSGI row has no driver to choose
    assert async_env["BENCH_DB_DRIVER"] == "psycopg"


def test_unknown_row_lists_the_valid_ones() -> None:
    result = sab_serve("flask-async", "--print-only")
    assert result.returncode == 2
    assert "unknown row 'flask-async'" in result.stderr
    assert "flask-sync" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("BENCH_WORKERS", "zero", "BENCH_WORKERS='zero' is not a whole number"),
        ("BENCH_WORKERS", "0", "BENCH_WORKERS=0 must be at least 1"),
        ("BENCH_INSTRUMENTATION", "maybe", "must be one of 'on', 'off', 'flask-exporter'"),
        ("BENCH_DB_POOL", "0", "BENCH_DB_POOL=0 must be at least 1"),
        ("BENCH_DB_WAIT_MS", "soon", "BENCH_DB_WAIT_MS='soon' is not an integer"),
        ("BENCH_DB_DRIVER", "sqlite", "BENCH_DB_DRIVER='sqlite' must be 'asyncpg' or 'psycopg'"),
    ],
)
def test_bad_knobs_are_clear_errors(variable: str, value: str, message: str) -> None:
    result = sab_serve("flask-sync", "--print-only", **{variable: value})
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.live
def test_gunicorn_rows_open_no_control_socket(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """gunicorn >= 25.1 would put one in $HOME/.gunicorn, shared by every row."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    with running_row("flask-sync", tmp_path) as server:
        assert httpx.get(f"{server.base_url}/hello", timeout=10).status_code == 200
        log = server.log.read_text()
    assert "Starting gunicorn" in log
    assert "Control socket" not in log
    assert list(home.iterdir()) == []
