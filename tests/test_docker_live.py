"""Docker mode on a real engine: the real compose file, through `make up` to `make down`.

Needs a reachable Docker engine and, present locally, every image the compose
file names (no registry is reachable from CI): .ci/run starts dockerd, builds
Debian stand-ins with scripts/build-standin-images.sh and exports
PYTHON_IMAGE, PROMETHEUS_IMAGE, K6_IMAGE and POSTGRES_IMAGE. Without an engine or an image
these tests skip, which CI (SAB_FAIL_ON_SKIP=1) counts as failures.

Every service runs but Grafana: there is no Grafana image nor package to be
had here, so an override file (named by COMPOSE_FILE, which `bench up`
honours) gives it a profile nobody enables. The stack publishes fixed ports
(every row's app and metrics port, 8099, 9090), so these tests refuse to start beside
another stack. Load goes to those 127.0.0.1 ports only; the k6 container
shares the host's network. Every wait is bounded, and a finalizer brings the
project down whatever happens.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import time
from collections.abc import Iterator

import httpx
import pytest

from bench.loadtest.runner import K6Run, compose_k6_argv, publish_summary
from bench.paths import LOADTESTS_DIR
from bench.prometheus import PrometheusClient
from bench.stack.docker import compose_base_argv, docker_engine
from bench.stack.docker_stack import DATABASE_VOLUME
from bench.stack.record import record_path
from services.database.schema import ROW_COUNT, expected_item, item_answer, slept_body
from services.rows import LATENCY_SERVICE_PORT, ROWS, ROWS_BY_NAME, Row
from tests.concurrent_requests import fire_together
from tests.docker_project import (
    Project,
    containers,
    dangling_images,
    existing_volumes,
    health,
    image_present,
    mounted_volumes,
    networks,
    project_env,
    project_volume,
)
from tests.test_contract import expected_driver

PROMETHEUS_URL = "http://127.0.0.1:9090"
# Building the image the first time (pip from PyPI) takes most of this.
UP_TIMEOUT_S = 900
WAIT_S = 60.0
# Short sleeps keep the seed demo to a few seconds; only ratios are asserted.
DEMO_MS = 600
K6_MS = 300
STACK_PORTS = (
    LATENCY_SERVICE_PORT,
    9090,
    *(port for row in ROWS for port in (row.port, row.metrics_port)),
)

pytestmark = [pytest.mark.live, pytest.mark.timeout(UP_TIMEOUT_S)]


def _port_taken(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _assert_nothing_of_ours_runs() -> None:
    assert containers() == [], "containers of the project are left"
    assert networks() == [], "networks of the project are left"


def _output(result: subprocess.CompletedProcess[str]) -> str:
    return result.stdout + result.stderr


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    """The engine, the images and free ports, checked; the project is down after the module."""
    engine = docker_engine()
    if not engine.reachable:
        pytest.skip(f"no Docker engine reachable ({engine.reason}): .ci/run starts one")
    project = project_env(os.environ, tmp_path_factory.mktemp("docker"))
    missing = [
        f"{use}: {image}"
        for use, image in project.resolved_images().items()
        if not image_present(image)
    ]
    if missing:
        pytest.skip(
            "images not present locally (no registry here): "
            + ", ".join(missing)
            + "; build stand-ins with scripts/build-standin-images.sh and export what it prints"
        )
    if containers():
        pytest.fail("containers of the compose project exist already: `make down` first")
    taken = [port for port in STACK_PORTS if _port_taken(port)]
    if taken:
        pytest.fail(f"ports the compose stack publishes are taken: {taken}")
    try:
        yield project
    finally:
        project.make("down")
        if containers():  # belt and braces: never leave the engine busy
            project.compose("down", "--remove-orphans", "--volumes")


# --- the failure paths first: the module's stack is not up yet --------------


def test_a_bad_knob_fails_clearly_and_starts_nothing(project: Project) -> None:
    up = project.make("up", FLASK_SYNC_WORKERS="zero")
    assert up.returncode != 0
    assert "flask-sync: FLASK_SYNC_WORKERS='zero' is not a whole number" in up.stderr
    assert "Traceback" not in _output(up)
    _assert_nothing_of_ours_runs()
    assert not record_path(project.state_dir).exists()


def test_a_failed_compose_up_is_brought_down(project: Project) -> None:
    """A published port taken by someone else: compose fails midway; nothing stays."""
    taken = ROWS_BY_NAME["django-asgi"].port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as squatter:
        squatter.bind(("127.0.0.1", taken))
        squatter.listen()
        up = project.make("up")
    assert up.returncode != 0, _output(up)
    assert "`docker compose up` failed" in up.stderr, _output(up)
    assert "Everything it had started is stopped and removed." in up.stderr
    _assert_nothing_of_ours_runs()
    assert not record_path(project.state_dir).exists()
    down = project.make("down")
    assert down.returncode == 0
    assert "Nothing to stop" in down.stdout


# --- the stack, up once for the rest of the module ---------------------------


@pytest.fixture(scope="module")
def stack(project: Project) -> Iterator[str]:
    """`make up` (every service but Grafana), its output; `make down` whatever happens."""
    before = dangling_images()
    up = project.make("up")
    try:
        assert up.returncode == 0, _output(up)
        # One build, tagged: no superseded copies of the image left untagged.
        assert dangling_images() - before == set()
        yield up.stdout
    finally:
        project.make("down")


def test_up_starts_every_row_healthy(stack: str) -> None:
    assert "The docker stack is up" in stack
    statuses = dict(health(container) for container in containers())
    # The one-shot seed has run and exited 0 before any row started.
    assert statuses.pop("postgres-seed") == "exited-0"
    expected = {row.name for row in ROWS} | {"latency", "prometheus", "postgres"}
    assert set(statuses) == expected  # Grafana left out on purpose (module docstring)
    assert set(statuses.values()) == {"healthy"}, statuses
    for row in ROWS:
        assert f"http://127.0.0.1:{row.port}" in stack
        answer = httpx.get(f"http://127.0.0.1:{row.port}/health", timeout=5)
        assert answer.status_code == 200


DB_SLEEP_MS = 50


@pytest.mark.parametrize("row", ROWS, ids=lambda row: row.name)
def test_every_row_serves_the_database_endpoints_from_the_compose_postgres(
    stack: str, row: Row
) -> None:
    """/db/query and /db/sleep through each row's own driver and pool, seeded by postgres-seed."""
    base = f"http://127.0.0.1:{row.port}"
    with httpx.Client(base_url=base, timeout=30) as client:
        query = client.get("/db/query")
        assert query.status_code == 200, query.text
        item = query.json()
        assert 1 <= item["id"] <= ROW_COUNT
        assert item == item_answer(expected_item(item["id"]), expected_driver(row, "/db/query"))
        slept = client.get("/db/sleep", params={"ms": DB_SLEEP_MS})
        assert slept.status_code == 200, slept.text
        assert slept.json() == slept_body(DB_SLEEP_MS, expected_driver(row, "/db/sleep"))
        assert slept.elapsed.total_seconds() >= DB_SLEEP_MS / 1000
        bad = client.get("/db/sleep", params={"ms": "soon"})
        assert bad.status_code == 400, bad.text


def test_prometheus_scrapes_every_row(stack: str) -> None:
    deadline = time.monotonic() + WAIT_S
    states: dict[str, str] = {}
    while time.monotonic() < deadline:
        targets = httpx.get(f"{PROMETHEUS_URL}/api/v1/targets", timeout=5).json()
        states = {
            target["labels"]["service"]: target["health"]
            for target in targets["data"]["activeTargets"]
            if "service" in target["labels"]
        }
        if all(states.get(row.name) == "up" for row in ROWS):
            break
        time.sleep(1.0)
    assert states == {row.name: "up" for row in ROWS}


def test_the_seed_demo_holds_through_the_published_ports(stack: str) -> None:
    """One sync worker serialises three users (~1/2/3x); one event loop overlaps them."""
    sync = sorted(t.elapsed_s for t in fire_together(f"http://127.0.0.1:8001/sync?ms={DEMO_MS}", 3))
    asyncs = sorted(
        t.elapsed_s for t in fire_together(f"http://127.0.0.1:8004/async?ms={DEMO_MS}", 3)
    )
    assert 1.5 < sync[1] / sync[0] < 2.5, sync
    assert 2.3 < sync[2] / sync[0] < 3.7, sync
    assert asyncs[2] / asyncs[0] < 1.5, asyncs


def _k6_series(testid: str) -> list[dict[str, str]]:
    """The k6 request counter's series of one run, waiting (bounded) for the push."""
    client = PrometheusClient(PROMETHEUS_URL)
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        series = client.series(f'k6_http_reqs_total{{testid="{testid}"}}')
        if series:
            return series
        time.sleep(1.0)
    return []


def _run_k6_container(project: Project, *args: str) -> subprocess.CompletedProcess[str]:
    return project.compose("--profile", "load", "run", "--rm", *args, "k6")


def _tagged_testid(result: subprocess.CompletedProcess[str], service: str) -> str:
    match = re.search(rf"series carry service={service} testid=(\S+)", result.stderr)
    assert match, _output(result)
    return match.group(1)


def test_the_documented_k6_container_run_writes_its_summary_and_labels(
    stack: str, project: Project
) -> None:
    """`run --rm --user ... k6`, seed demo: the default target, then fastapi-async."""
    user = ["--user", f"{os.getuid()}:{os.getgid()}"]
    default = _run_k6_container(project, *user, "-e", f"ENDPOINT=/sync?ms={K6_MS}")
    assert default.returncode == 0, _output(default)
    summary = json.loads((project.results_dir / "k6-summary.json").read_text())
    assert summary["metrics"]["iterations"]["values"]["count"] == 3
    default_id = _tagged_testid(default, "flask-sync")

    fastapi = _run_k6_container(
        project,
        *user,
        *("-e", "BASE_URL=http://127.0.0.1:8004"),
        *("-e", "SERVICE=fastapi-async"),
        *("-e", f"ENDPOINT=/async?ms={K6_MS}"),
    )
    assert fastapi.returncode == 0, _output(fastapi)
    fastapi_id = _tagged_testid(fastapi, "fastapi-async")
    assert fastapi_id != default_id
    summary = json.loads((project.results_dir / "k6-summary.json").read_text())
    assert summary["metrics"]["iterations"]["values"]["count"] == 3

    for testid, service in ((default_id, "flask-sync"), (fastapi_id, "fastapi-async")):
        series = _k6_series(testid)
        assert series, f"no k6 series with testid={testid} in Prometheus"
        assert {s["service"] for s in series} == {service}


def test_the_k6_container_refuses_to_run_when_it_cannot_write_its_summary(
    stack: str, project: Project
) -> None:
    """As the image's own user (uid 12345) on a results directory of root's, mode 755."""
    refused = _run_k6_container(project, "-e", "TESTID=never-sent", "-e", "ENDPOINT=/sync?ms=1")
    assert refused.returncode == 2, _output(refused)
    assert "cannot write the summary /results/k6-summary.json as uid 12345" in refused.stderr
    assert "nothing was run" in refused.stderr
    assert _k6_series_now("never-sent") == []


def _k6_series_now(testid: str) -> list[dict[str, str]]:
    return PrometheusClient(PROMETHEUS_URL).series(f'k6_http_reqs_total{{testid="{testid}"}}')


def test_make_loadtest_runs_against_the_docker_stack(stack: str, project: Project) -> None:
    run = project.make(
        "loadtest", "SCENARIO=three-users", "TARGET=fastapi-async", f"ENDPOINT=/async?ms={K6_MS}"
    )
    assert run.returncode == 0, _output(run)
    (run_dir,) = project.results_dir.glob("*-three-users-fastapi-async")
    params = json.loads((run_dir / "params.json").read_text())
    assert params["pushed_to_prometheus"] is True
    summary = json.loads((run_dir / "fastapi-async" / "summary.json").read_text())
    assert summary["metrics"]["iterations"]["values"]["count"] == 3
    series = _k6_series(params["testid"])
    assert {s["service"] for s in series} == {"fastapi-async"}


def test_bench_runs_k6_in_the_container_as_the_owner_of_the_run_directory(
    stack: str, project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The path `bench loadtest` takes without a local k6: its summary lands in the run dir."""
    # compose_k6_argv maps paths under the results directory into /results.
    monkeypatch.setenv("BENCH_RESULTS_DIR", str(project.results_dir))
    run_dir = project.results_dir / "container-path" / "fastapi-async"
    run = K6Run(
        script=LOADTESTS_DIR / "three-users.js",
        env={"BASE_URL": "http://127.0.0.1:8004", "ENDPOINT": f"/async?ms={K6_MS}"},
        run_dir=run_dir,
        testid="container-path",
        prometheus_url=PROMETHEUS_URL,
        tags={"service": "fastapi-async"},
    )
    run_dir.mkdir(parents=True)
    argv = compose_k6_argv(compose_base_argv(), run)
    result = subprocess.run(
        argv,
        env=project.env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, _output(result)
    summary = publish_summary(run_dir)
    assert summary["metrics"]["iterations"]["values"]["count"] == 3
    assert {s["service"] for s in _k6_series("container-path")} == {"fastapi-async"}


def test_make_down_leaves_nothing_of_ours(stack: str, project: Project) -> None:
    ours = containers()
    volumes = mounted_volumes(ours)
    named = {volume for volume in volumes if volume.startswith("sync-async-bench_")}
    down = project.make("down")
    assert down.returncode == 0, _output(down)
    assert "Stopped the docker stack." in down.stdout
    _assert_nothing_of_ours_runs()
    # Named volumes keep Prometheus's data on purpose; anonymous ones must go,
    # and so does the throwaway database's.
    assert (volumes - named) & existing_volumes() == set()
    database = project_volume(DATABASE_VOLUME)
    assert database in named
    assert database not in existing_volumes()
    assert project_volume("prometheus-data") in existing_volumes()
    assert not record_path(project.state_dir).exists()
    # A stack started by hand (no record of `bench up`) is stopped too.
    by_hand = project.compose("up", "--detach", "--no-build", "latency")
    assert by_hand.returncode == 0, _output(by_hand)
    again = project.make("down")
    assert again.returncode == 0, _output(again)
    assert "without a record" in again.stdout
    _assert_nothing_of_ours_runs()
