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
from services.serve import build_command
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
        ("BENCH_INSTRUMENTATION", "maybe", "must be 'on' or 'off'"),
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
