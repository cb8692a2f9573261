"""Every dashboard panel and every recording rule returns data after a real load run.

There is no Grafana binary here, so the test does what Grafana would: it
substitutes the template variables and runs each panel's query against a real
Prometheus that scrapes real rows (sync, gthread, async) with the project's
own prometheus.yml and rules, after a burst on every endpoint and a k6 run
pushing by remote write. An empty panel fails with the panel's title.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import yaml

from bench.dashboards import DASHBOARD_PATH, panel_queries
from bench.k6 import find_k6
from bench.paths import PROMETHEUS_DIR
from bench.procs import LOOPBACK, RunningRow, free_port, running_latency_service, running_row
from bench.prometheus import PrometheusClient, running_prometheus
from bench.stack.prometheus_config import (
    absolute_rule_files,
    load_prometheus_config,
    rewrite_targets,
)
from services.endpoints import endpoints_for
from services.rows import ROWS_BY_NAME
from tests.k6_series import K6_METRICS

# One row per kind of panel: slots and backlog (sync), many slots (gthread),
# event-loop lag and thread pool (async).
ROWS_UNDER_TEST = ("flask-sync", "flask-threads", "fastapi-async")
K6_ROW = "flask-sync"
K6_SCRIPT = Path(__file__).parent / "data" / "k6-dashboards.js"
RATE_INTERVAL = "10s"  # what Grafana's $__rate_interval is at 1 s scrapes and a short range
SCRAPE_WAIT_S = 20.0
BURST_ROUNDS = 4
BURST_CONCURRENCY = 3
REQUEST_TIMEOUT_S = 10.0
# Small enough that every endpoint answers well inside the rate windows.
QUERY_STRINGS = {"ms": "50", "n": "20000"}


@dataclass(frozen=True)
class Lab:
    prometheus: PrometheusClient
    rows: dict[str, RunningRow]
    testid: str
    started: float


def prometheus_config_for(rows: dict[str, RunningRow], prometheus_port: int) -> dict[str, Any]:
    """prometheus/prometheus.yml for these rows on their test ports (other rows left out)."""
    config = load_prometheus_config(PROMETHEUS_DIR / "prometheus.yml")
    for job in config["scrape_configs"]:
        # Row groups carry a service label; Prometheus's own has none and stays.
        job["static_configs"] = [
            group
            for group in job["static_configs"]
            if group.get("labels", {}).get("service") in {None, *rows}
        ]
    targets = {
        f"{name}:{ROWS_BY_NAME[name].metrics_port}": f"{LOOPBACK}:{urlsplit(row.metrics_url).port}"
        for name, row in rows.items()
    }
    targets["localhost:9090"] = f"{LOOPBACK}:{prometheus_port}"
    return absolute_rule_files(rewrite_targets(config, targets), PROMETHEUS_DIR)


def wait_for_targets(prometheus: PrometheusClient, count: int) -> None:
    deadline = time.monotonic() + SCRAPE_WAIT_S
    while time.monotonic() < deadline:
        if len(prometheus.query('up{job="rows"} == 1')) == count:
            return
        time.sleep(0.5)
    raise AssertionError(f"Prometheus did not scrape {count} rows: {prometheus.query('up')}")


def endpoint_routes(row: RunningRow) -> list[str]:
    return [endpoint.path for endpoint in endpoints_for(ROWS_BY_NAME[row.name].interface)]


def endpoint_urls(row: RunningRow) -> list[str]:
    """Every workload endpoint of the row, with small parameters."""
    urls = []
    for endpoint in endpoints_for(ROWS_BY_NAME[row.name].interface):
        query = "&".join(f"{p.name}={QUERY_STRINGS[p.name]}" for p in endpoint.params)
        urls.append(f"{row.base_url}{endpoint.path}" + (f"?{query}" if query else ""))
    return urls


def burst(rows: dict[str, RunningRow]) -> None:
    """A bounded burst: a few concurrent requests to every endpoint of every row."""
    urls = [url for row in rows.values() for url in endpoint_urls(row)]
    with httpx.Client(timeout=REQUEST_TIMEOUT_S) as client, ThreadPoolExecutor(16) as pool:
        for _ in range(BURST_ROUNDS):
            answers = list(pool.map(client.get, urls * BURST_CONCURRENCY))
            bad = [(r.request.url, r.status_code) for r in answers if r.status_code != 200]
            assert not bad, bad


def k6_arrival_run(row: RunningRow, prometheus_url: str, testid: str) -> None:
    """The tiny k6 script against ``row``, pushing to Prometheus as `bench loadtest` does."""
    env = {
        **os.environ,
        "BASE_URL": row.base_url,
        "K6_NO_USAGE_REPORT": "true",
        "K6_PROMETHEUS_RW_SERVER_URL": f"{prometheus_url}/api/v1/write",
        "K6_PROMETHEUS_RW_TREND_AS_NATIVE_HISTOGRAM": "true",
        "K6_PROMETHEUS_RW_PUSH_INTERVAL": "1s",
    }
    result = subprocess.run(
        [
            *(str(find_k6()), "run", "--quiet", "--no-color"),
            *("-o", "experimental-prometheus-rw"),
            *("--tag", f"testid={testid}", "--tag", f"service={row.name}"),
            str(K6_SCRIPT),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    workdir = tmp_path_factory.mktemp("dashboards-live")
    with ExitStack() as stack:
        latency_url = stack.enter_context(running_latency_service(workdir))
        rows = {
            name: stack.enter_context(running_row(name, workdir, latency_url=latency_url))
            for name in ROWS_UNDER_TEST
        }
        port = free_port()
        config_path = workdir / "prometheus.yml"
        config_path.write_text(yaml.safe_dump(prometheus_config_for(rows, port)))
        prometheus = stack.enter_context(running_prometheus(config_path, workdir, port))
        wait_for_targets(prometheus, len(rows))
        started = time.time()
        testid = f"dashboards-live-{int(started)}"
        with ThreadPoolExecutor(1) as k6:
            k6_run = k6.submit(k6_arrival_run, rows[K6_ROW], prometheus.base_url, testid)
            burst(rows)
            k6_run.result()  # k6 flushes its last remote write before it exits
        yield Lab(prometheus, rows, testid, started)


def selected_values(lab: Lab) -> dict[str, str]:
    """The variables with this run's rows, routes and k6 run picked (multi-value as a regex)."""
    routes = {route for row in lab.rows.values() for route in endpoint_routes(row)}
    return {"service": "|".join(lab.rows), "route": "|".join(sorted(routes)), "testid": lab.testid}


def all_values(board: dict[str, Any]) -> dict[str, str]:
    """The variables left at All, as Grafana sends them: each one's allValue."""
    return {variable["name"]: variable["allValue"] for variable in board["templating"]["list"]}


def substitute(expr: str, values: dict[str, str]) -> str:
    """Grafana's variable interpolation: $name, then $__rate_interval."""
    for name, value in values.items():
        expr = expr.replace(f"${name}", value)
    return expr.replace("$__rate_interval", RATE_INTERVAL)


def has_finite_value(result: list[dict[str, Any]]) -> bool:
    values = [v for series in result for v in series.get("values", [series.get("value")])]
    return any(math.isfinite(float(value)) for _, value in values)


def run_panel_query(lab: Lab, expr: str, instant: bool) -> list[dict[str, Any]]:
    if instant:
        return lab.prometheus.query(expr)
    return lab.prometheus.query_range(expr, lab.started - 5, time.time(), step=1)


@pytest.mark.live
@pytest.mark.parametrize("picked", ["selected", "all"])
def test_every_dashboard_panel_returns_data(lab: Lab, picked: str) -> None:
    board = json.loads(DASHBOARD_PATH.read_text())
    values = selected_values(lab) if picked == "selected" else all_values(board)
    instant = {
        query["expr"]
        for panel in board["panels"]
        for query in panel.get("targets", [])
        if query.get("instant")
    }
    queries = panel_queries(board)
    empty = []
    for title, expr in queries:
        concrete = substitute(expr, values)
        assert "$" not in concrete, f"panel {title!r}: unsubstituted variable in {concrete}"
        if not has_finite_value(run_panel_query(lab, concrete, expr in instant)):
            empty.append(f"panel {title!r} returned no data: {concrete}")
    assert not empty, "\n".join(empty)
    assert len(queries) >= 20


@pytest.mark.live
def test_every_recording_rule_returns_data(lab: Lab) -> None:
    rules = [
        rule
        for path in sorted((PROMETHEUS_DIR / "rules").glob("*.yml"))
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
    ]
    empty = []
    for rule in rules:
        result = run_panel_query(lab, f'{rule["record"]}{{service=~".+"}}', instant=False)
        if not has_finite_value(result):
            empty.append(f"rule {rule['record']} ({rule.get('labels', {})}) has no data")
    assert not empty, "\n".join(empty)


@pytest.mark.live
def test_the_template_variables_list_the_rows_routes_and_run(lab: Lab) -> None:
    board = json.loads(DASHBOARD_PATH.read_text())
    for variable in board["templating"]["list"]:
        query = substitute(variable["query"]["query"], selected_values(lab))
        selector, label = query.removeprefix("label_values(").removesuffix(")").rsplit(",", 1)
        response = httpx.get(
            f"{lab.prometheus.base_url}/api/v1/label/{label.strip()}/values",
            params={"match[]": selector, "start": lab.started - 5},
            timeout=10,
        )
        values = set(response.json()["data"])
        expected = {
            "service": set(lab.rows),
            "route": {"/hello", "/io", "/io/blocking", "/io/thread", "/cpu", "/downstream"},
            "testid": {lab.testid},
        }[variable["name"]]
        assert expected <= values, f"${variable['name']}: {values}"


def series_max(lab: Lab, expr: str) -> float:
    result = lab.prometheus.query_range(expr, lab.started - 5, time.time(), step=1)
    values = [float(v) for series in result for _, v in series["values"]]
    finite = [v for v in values if math.isfinite(v)]
    assert finite, f"no data for {expr}"
    return max(finite)


@pytest.mark.live
def test_the_panels_show_a_saturated_sync_worker(lab: Lab) -> None:
    """The k6 run (2 VUs, /io?ms=200) on flask-sync's single worker, as the panels show it."""
    sync = 'service="flask-sync"'
    # One sync worker: never more than one request inside the app...
    assert series_max(lab, f"service:http_server_active_requests:sum{{{sync}}}") == 1
    # ...busy most of the run, and throughput close to Little's-law capacity.
    saturation = series_max(lab, f"service:bench_worker_saturation:ratio_avg10s{{{sync}}}")
    assert 0.3 <= saturation <= 1
    ratio = series_max(
        lab,
        f"service:http_server_requests:rate10s{{{sync}}}"
        f" / service:bench_capacity_requests:rate_littles_law{{{sync}}}",
    )
    assert 0.3 <= ratio <= 1.25
    # The second VU waits in the listen backlog: k6 sees it, the server histogram cannot.
    k6_p95 = series_max(
        lab,
        "histogram_quantile(0.95, sum(rate(k6_http_req_duration_seconds"
        f'{{testid="{lab.testid}", group!="::setup"}}[{RATE_INTERVAL}])))',
    )
    server_p95 = series_max(
        lab,
        "service_route:http_server_request_duration_seconds:histogram_quantile10s"
        f'{{{sync}, route="/io", quantile="0.95"}}',
    )
    assert k6_p95 > 1.25 * server_p95, (k6_p95, server_p95)
    assert series_max(lab, f"service:bench_listen_backlog:max10s{{{sync}}}") >= 1
    # 30/s arriving, 2 VUs of ~0.4 s each: k6 drops most iterations.
    dropped = f'sum(rate(k6_dropped_iterations_total{{testid="{lab.testid}"}}[{RATE_INTERVAL}]))'
    assert series_max(lab, dropped) > 1


@pytest.mark.live
def test_the_k6_series_list_is_what_k6_pushed(lab: Lab) -> None:
    """The static checks' list of k6 names is exactly what this real k6 run pushed."""
    pushed = {
        series["__name__"]
        for series in lab.prometheus.series(f'{{testid="{lab.testid}"}}', start=lab.started - 5)
    }
    assert pushed == K6_METRICS, (sorted(pushed - K6_METRICS), sorted(K6_METRICS - pushed))
