"""The stack runner: `bench up/down/status/logs/run-native` and its building blocks.

The live tests run the `bench` CLI as subprocesses, the way `make` does, with
BENCH_PORT_OFFSET and a temporary BENCH_STATE_DIR, so they never touch a
stack the user runs on the default ports.
"""

from __future__ import annotations

import configparser
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
import pytest
import yaml

from bench.paths import REPO_ROOT
from bench.postgres import existing_cluster
from bench.prometheus import PrometheusClient
from bench.stack.knobs import read_dotenv
from bench.stack.layout import (
    NativeStackConfig,
    StackError,
    free_port_offset,
    native_stack_config,
    port_is_free,
    prometheus_targets,
)
from bench.stack.native import PROMETHEUS_SOURCE
from bench.stack.prometheus_config import (
    PrometheusConfigError,
    absolute_rule_files,
    native_prometheus_config,
    rewrite_targets,
)
from bench.stack.supervisor_conf import render_supervisord_conf
from services.rows import ROWS

BENCH = str(Path(sys.executable).parent / "bench")
CLI_TIMEOUT_S = 120
SCRAPE_WAIT_S = 60.0

# The format prometheus/prometheus.yml follows (docker service names as hosts).
COMPOSE_STYLE_CONFIG = {
    "global": {"scrape_interval": "5s"},
    "rule_files": ["rules/*.yml", "/etc/prometheus/rules/extra.yml"],
    "scrape_configs": [
        {
            "job_name": "rows",
            "static_configs": [
                {"targets": [f"{row.name}:{row.metrics_port}"], "labels": {"service": row.name}}
                for row in ROWS
            ],
        },
        {"job_name": "prometheus", "static_configs": [{"targets": ["localhost:9090"]}]},
    ],
}


# --- building blocks (no processes) -----------------------------------------


def test_scrape_targets_are_rewritten_to_loopback_with_the_offset() -> None:
    rewritten = rewrite_targets(COMPOSE_STYLE_CONFIG, prometheus_targets(offset=500))
    groups = rewritten["scrape_configs"][0]["static_configs"]
    assert [group["targets"] for group in groups] == [
        [f"127.0.0.1:{row.metrics_port + 500}"] for row in ROWS
    ]
    assert [group["labels"]["service"] for group in groups] == [row.name for row in ROWS]
    self_scrape = rewritten["scrape_configs"][1]["static_configs"][0]["targets"]
    assert self_scrape == ["127.0.0.1:9590"]
    # The source config is left as it was.
    assert COMPOSE_STYLE_CONFIG["scrape_configs"][0]["static_configs"][0]["targets"] == [  # type: ignore[index]
        f"{ROWS[0].name}:{ROWS[0].metrics_port}"
    ]


def test_a_target_the_native_stack_does_not_run_is_an_error() -> None:
    config = {"scrape_configs": [{"job_name": "x", "static_configs": [{"targets": ["db:5432"]}]}]}
    with pytest.raises(PrometheusConfigError, match=r"'db:5432'.*does not run"):
        rewrite_targets(config, prometheus_targets(0))


def test_service_discovery_is_refused_rather_than_ignored() -> None:
    config = {"scrape_configs": [{"job_name": "x", "dns_sd_configs": [{"names": ["a"]}]}]}
    with pytest.raises(PrometheusConfigError, match="dns_sd_configs"):
        rewrite_targets(config, prometheus_targets(0))


def test_rule_files_point_into_the_repository(tmp_path: Path) -> None:
    rewritten = absolute_rule_files(COMPOSE_STYLE_CONFIG, tmp_path)
    assert rewritten["rule_files"] == [
        str(tmp_path / "rules/*.yml"),
        str(tmp_path / "rules/extra.yml"),
    ]
    with pytest.raises(PrometheusConfigError, match="outside /etc/prometheus"):
        absolute_rule_files({"rule_files": ["/srv/rules.yml"]}, tmp_path)


def test_the_repository_prometheus_config_translates_and_passes_promtool(tmp_path: Path) -> None:
    """prometheus/prometheus.yml scrapes every row, and its native version is valid."""
    config = native_prometheus_config(PROMETHEUS_SOURCE, prometheus_targets(0))
    labelled = {
        group.get("labels", {}).get("service"): group["targets"]
        for job in config["scrape_configs"]
        for group in job.get("static_configs", [])
    }
    for row in ROWS:
        assert labelled[row.name] == [f"127.0.0.1:{row.metrics_port}"]
    path = tmp_path / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    result = subprocess.run(
        ["promtool", "check", "config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_row_knobs_come_from_the_environment_over_dotenv(tmp_path: Path) -> None:
    env = {"FLASK_SYNC_WORKERS": "3", "FLASK_THREADS_THREADS": "8", "PATH": os.environ["PATH"]}
    config = native_stack_config(offset=0, state_dir=tmp_path, env=env)
    assert config.program("flask-sync").env["BENCH_WORKERS"] == "3"
    assert config.program("flask-threads").env["BENCH_THREADS"] == "8"
    # Not set in the environment: the value in .env.
    dotenv_workers = read_dotenv(REPO_ROOT / ".env")["DJANGO_WSGI_WORKERS"]
    assert config.program("django-wsgi").env["BENCH_WORKERS"] == dotenv_workers
    assert "BENCH_WORKERS" not in config.program("fastapi-async").env
    # Only multiprocess servers get a multiprocess directory (services/servers).
    assert "PROMETHEUS_MULTIPROC_DIR" in config.program("fastapi-gunicorn-asgi").env
    assert "PROMETHEUS_MULTIPROC_DIR" not in config.program("fastapi-asyncio").env
    assert config.program("fastapi-asyncio").env["BENCH_LOOP"] == "asyncio"


def test_every_port_shifts_with_the_offset(tmp_path: Path) -> None:
    config = native_stack_config(offset=1234, state_dir=tmp_path, env=dict(os.environ))
    for row in ROWS:
        program = config.program(row.name)
        assert program.ports == (row.port + 1234, row.metrics_port + 1234)
        assert program.env["BENCH_LATENCY_URL"] == "http://127.0.0.1:9333"
    assert config.program("latency").ports == (9333,)
    assert config.prometheus_url == "http://127.0.0.1:10324"
    assert config.grafana_url == "http://127.0.0.1:4234"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"FLASK_SYNC_WORKERS": "zero"}, "flask-sync: FLASK_SYNC_WORKERS='zero' is not a whole"),
        ({"FLASK_GEVENT_CONNECTIONS": "0"}, "FLASK_GEVENT_CONNECTIONS=0 must be at least 1"),
        (
            {"FASTAPI_ASYNCIO_LOOP": "tokio"},
            "fastapi-asyncio: FASTAPI_ASYNCIO_LOOP='tokio' must be 'uvloop' or 'asyncio'",
        ),
        ({"BENCH_PORT_OFFSET": "-5"}, "BENCH_PORT_OFFSET=-5 must be between 0 and"),
        ({"BENCH_PORT_OFFSET": "lots"}, "not an integer"),
    ],
)
def test_bad_knobs_are_clear_errors(tmp_path: Path, env: dict[str, str], message: str) -> None:
    with pytest.raises(StackError, match=message):
        native_stack_config(state_dir=tmp_path, env={"PATH": os.environ["PATH"], **env})


def test_every_program_is_stopped_as_a_process_group(tmp_path: Path) -> None:
    config = native_stack_config(offset=0, state_dir=tmp_path, env=dict(os.environ))
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string(render_supervisord_conf(config))
    programs = [name for name in parser.sections() if name.startswith("program:")]
    assert sorted(programs) == sorted(f"program:{p.name}" for p in config.programs)
    for name in programs:
        assert parser[name]["stopasgroup"] == "true"
        assert parser[name]["killasgroup"] == "true"
        assert parser[name]["stdout_logfile"].startswith(str(tmp_path / "logs"))
    assert parser["supervisord"]["pidfile"] == str(tmp_path / "supervisord.pid")


# --- the CLI against real processes -----------------------------------------


@dataclass(frozen=True)
class Cli:
    env: dict[str, str]
    state_dir: Path
    offset: int

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [BENCH, *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=CLI_TIMEOUT_S,
            check=False,
        )

    def config(self) -> NativeStackConfig:
        return native_stack_config(offset=self.offset, state_dir=self.state_dir, env=self.env)


def _cli(state_dir: Path, offset: int) -> Cli:
    env = {
        **os.environ,
        "BENCH_STATE_DIR": str(state_dir),
        "BENCH_PORT_OFFSET": str(offset),
        "BENCH_STACK": "native",
    }
    return Cli(env, state_dir.resolve(), offset)


def _assert_no_traceback(result: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in result.stdout + result.stderr


def _stack_processes(state_dir: Path) -> list[psutil.Process]:
    """supervisord (from its pidfile) and every process under it."""
    supervisord = psutil.Process(int((state_dir / "supervisord.pid").read_text()))
    return [supervisord, *supervisord.children(recursive=True)]


def _alive(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Cli, str]]:
    """`bench up` once for the module; `bench down` whatever happens."""
    cli = _cli(tmp_path_factory.mktemp("stack") / "state", free_port_offset())
    up = cli.run("up")
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        yield cli, up.stdout
    finally:
        cli.run("down")


@pytest.mark.live
def test_up_starts_every_row_healthy_and_prints_the_urls(stack: tuple[Cli, str]) -> None:
    cli, output = stack
    config = cli.config()
    assert "starting the native stack" in output
    for row in ROWS:
        assert config.row_url(row.name) in output
        assert config.row_metrics_url(row.name) in output
        assert httpx.get(f"{config.row_url(row.name)}/health", timeout=5).status_code == 200
        metrics = httpx.get(config.row_metrics_url(row.name), timeout=5)
        assert metrics.status_code == 200
    assert config.prometheus_url in output
    # What is missing is named with the way to get it; what runs has its URL.
    if config.has("grafana"):
        assert config.grafana_url in output
    else:
        assert "Grafana: not on PATH; install Grafana" in output


@pytest.mark.live
def test_prometheus_scrapes_every_row(stack: tuple[Cli, str]) -> None:
    cli, _ = stack
    client = PrometheusClient(cli.config().prometheus_url)
    assert client.is_ready()
    deadline = time.monotonic() + SCRAPE_WAIT_S
    up: dict[str, float] = {}
    while time.monotonic() < deadline:
        up = {r["metric"]["service"]: float(r["value"][1]) for r in client.query('up{service!=""}')}
        if all(up.get(row.name) == 1.0 for row in ROWS):
            break
        time.sleep(1.0)
    assert {row.name: up.get(row.name) for row in ROWS} == {row.name: 1.0 for row in ROWS}


@pytest.mark.live
def test_up_twice_is_a_clear_refusal(stack: tuple[Cli, str]) -> None:
    cli, _ = stack
    again = cli.run("up")
    assert again.returncode == 1
    assert "already up" in again.stderr
    assert "bench down" in again.stderr
    _assert_no_traceback(again)


@pytest.mark.live
def test_status_lists_every_program_healthy(stack: tuple[Cli, str]) -> None:
    cli, _ = stack
    status = cli.run("status")
    assert status.returncode == 0, status.stdout + status.stderr
    lines = {line.split()[0]: line.split() for line in status.stdout.splitlines()[1:]}
    for program in cli.config().programs:
        _, state, pid, ports, healthy = lines[program.name]
        assert state in {"RUNNING", "STARTING"}
        assert psutil.pid_exists(int(pid))
        assert ports == ",".join(str(port) for port in program.ports)
        assert healthy == "yes"


@pytest.mark.live
def test_logs_show_a_programs_output(stack: tuple[Cli, str]) -> None:
    cli, _ = stack
    logs = cli.run("logs", "flask-sync", "--lines", "5")
    assert logs.returncode == 0
    assert logs.stdout.startswith("==> flask-sync")
    assert 1 < len(logs.stdout.splitlines()) <= 6
    unknown = cli.run("logs", "no-such-row")
    assert unknown.returncode == 1
    assert "no log for 'no-such-row'" in unknown.stderr
    _assert_no_traceback(unknown)


@pytest.mark.live
def test_up_starts_a_seeded_postgres_for_every_row(stack: tuple[Cli, str]) -> None:
    cli, output = stack
    database = cli.config().database
    assert database is not None
    assert database.port == 5455 + cli.offset
    assert f"PostgreSQL        {database.url}" in output
    for row in ROWS:
        response = httpx.get(f"{cli.config().row_url(row.name)}/db/query", timeout=10)
        assert response.status_code == 200, (row.name, response.text)


@pytest.mark.live
def test_down_stops_everything_up_started(stack: tuple[Cli, str]) -> None:
    cli, _ = stack
    processes = _stack_processes(cli.state_dir)
    # supervisord, latency, every row (+ gunicorn workers), Prometheus
    assert len(processes) >= 2 + len(ROWS) + 1
    down = cli.run("down")
    assert down.returncode == 0, down.stdout + down.stderr
    assert "Stopped the native stack" in down.stdout
    assert [p.pid for p in processes if _alive(p)] == []
    for program in cli.config().programs:
        for port in program.ports:
            assert port_is_free(port), f"{program.name} still holds {port}"
    database = cli.config().database
    assert database is not None
    assert database.port is not None
    assert port_is_free(database.port), "PostgreSQL still runs"
    # Kept in the state directory for the next `up`, or, where it had to live in
    # /tmp (a state directory PostgreSQL's user cannot reach), removed.
    cluster = existing_cluster(cli.state_dir)
    assert cluster is None or cluster.base.is_relative_to(cli.state_dir), cluster
    again = cli.run("down")
    assert again.returncode == 0
    assert "Nothing to stop" in again.stdout


@pytest.mark.live
def test_down_with_nothing_up_says_so(tmp_path: Path) -> None:
    down = _cli(tmp_path / "state", 0).run("down")
    assert down.returncode == 0
    assert "Nothing to stop" in down.stdout
    _assert_no_traceback(down)


@pytest.mark.live
def test_up_refuses_when_a_port_is_taken(tmp_path: Path) -> None:
    cli = _cli(tmp_path / "state", free_port_offset(range(23250, 20000, -250)))
    taken = ROWS[2].port + cli.offset
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as squatter:
        squatter.bind(("127.0.0.1", taken))
        squatter.listen()
        up = cli.run("up")
    assert up.returncode == 1
    assert f"{taken} ({ROWS[2].name})" in up.stderr
    assert "BENCH_PORT_OFFSET" in up.stderr
    _assert_no_traceback(up)
    assert not (cli.state_dir / "supervisord.pid").exists()


@pytest.mark.live
def test_run_native_stops_everything_on_ctrl_c(tmp_path: Path) -> None:
    cli = _cli(tmp_path / "state", free_port_offset(range(21500, 23500, 250)))
    process = subprocess.Popen(
        [BENCH, "run-native"],
        env=cli.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own group stands in for the terminal's
    )
    try:
        assert process.stdout is not None
        deadline = time.monotonic() + CLI_TIMEOUT_S
        output = []
        for line in process.stdout:
            output.append(line)
            if "The native stack is up." in line or time.monotonic() > deadline:
                break
        assert "The native stack is up." in "".join(output), "".join(output)
        stack_processes = _stack_processes(cli.state_dir)
        os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C does
        rest, _ = process.communicate(timeout=60)
        assert process.returncode == 0, "".join(output) + rest
        assert "The native stack has stopped." in rest
        assert [p.pid for p in stack_processes if _alive(p)] == []
        for program in cli.config().programs:
            assert all(port_is_free(port) for port in program.ports), program.name
        assert port_is_free(5455 + cli.offset), "PostgreSQL still runs"
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
