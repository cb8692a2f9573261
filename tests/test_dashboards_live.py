"""Every dashboard panel and every recording rule returns data after real load runs.

There is no Grafana binary here, so the test does what Grafana would
(tests/grafana_emulation.py): it substitutes the template variables and
Grafana's $__rate_interval, $__range and step for the time range, and runs
each panel's query against a real Prometheus that scrapes real rows (sync,
gthread, async) with the project's own prometheus.yml and rules. Two k6 runs
push by remote write: a dense one (30 arrivals/s, with a burst on every
endpoint beside it) and the seed demo as `make loadtest SCENARIO=three-users
TARGET=flask-sync` runs it (three users, one request each: every k6 series
has a single sample). Every k6 panel must show data for each run on its own,
and every panel of Grafana's k6 dashboard 18030 after both. An empty panel
fails with the panel's title.
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
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
from bench.loadtest.runner import remote_write_env
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
from tests import k6_reference
from tests.grafana_emulation import (
    TimeRange,
    has_finite_value,
    interpolate,
    multi_value,
    run_query,
)
from tests.k6_series import K6_METRICS

# One row per kind of panel: slots and backlog (sync), many slots (gthread),
# event-loop lag and thread pool (async), a server's own queue (Granian).
ROWS_UNDER_TEST = ("flask-sync", "flask-threads", "fastapi-async", "flask-granian")
K6_ROW = "flask-sync"
K6_SCRIPT = Path(__file__).parent / "data" / "k6-dashboards.js"
SCRAPE_WAIT_S = 20.0
BURST_ROUNDS = 4
BURST_CONCURRENCY = 3
REQUEST_TIMEOUT_S = 10.0
SEED_DEMO_TIMEOUT_S = 120.0  # 3 x 5 s on one sync worker, plus k6 start and summary
# k6 writes its stale markers as it stops; Prometheus must drop the series by then.
STALE_WAIT_S = 15.0
# Small enough that every endpoint answers well inside the rate windows.
QUERY_STRINGS = {"ms": "50", "n": "20000"}
# A user opening the dashboard a little after the run, the run in its range.
RANGE_MARGIN_S = 5.0


@dataclass(frozen=True)
class Run:
    """One k6 run as the dashboard sees it."""

    testid: str
    service: str
    started: float
    ended: float


@dataclass(frozen=True)
class Lab:
    prometheus: PrometheusClient
    rows: dict[str, RunningRow]
    dense: Run
    seed: Run
    started: float

    @property
    def testid(self) -> str:
        return self.dense.testid

    def whole_range(self) -> TimeRange:
        return TimeRange(self.started - RANGE_MARGIN_S, time.time())


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
    """The dense k6 script against ``row``, pushing to Prometheus as `bench loadtest` does."""
    env = {**os.environ, "BASE_URL": row.base_url, "K6_NO_USAGE_REPORT": "true"}
    env.update(remote_write_env(prometheus_url))
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


def seed_demo(row: RunningRow, prometheus_url: str, results: Path) -> str:
    """`make loadtest SCENARIO=three-users TARGET=<row>` on the test's ports; its testid."""
    result = subprocess.run(
        [
            *(sys.executable, "-m", "bench", "loadtest"),
            *("--scenario", "three-users", "--target", row.name, "--url", row.base_url),
            *("--prometheus-url", prometheus_url, "--results-dir", str(results)),
        ],
        capture_output=True,
        text=True,
        timeout=SEED_DEMO_TIMEOUT_S,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    [params] = results.glob("*/params.json")
    testid: str = json.loads(params.read_text())["testid"]
    return testid


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory, database_url: str) -> Iterator[Lab]:
    workdir = tmp_path_factory.mktemp("dashboards-live")
    with ExitStack() as stack:
        latency_url = stack.enter_context(running_latency_service(workdir))
        rows = {
            name: stack.enter_context(
                running_row(name, workdir, latency_url=latency_url, database_url=database_url)
            )
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
        dense = Run(testid, K6_ROW, started, time.time())
        # After the dense run: the seed demo's users must not queue behind it.
        seed_started = time.time()
        seed_testid = seed_demo(rows[K6_ROW], prometheus.base_url, workdir / "results")
        seed = Run(seed_testid, K6_ROW, seed_started, time.time())
        yield Lab(prometheus, rows, dense, seed, started)


def selected_values(lab: Lab) -> dict[str, str]:
    """The variables with this run's rows, routes and k6 runs picked (multi-value as a regex)."""
    routes = {route for row in lab.rows.values() for route in endpoint_routes(row)}
    return {
        "service": "|".join(lab.rows),
        "route": "|".join(sorted(routes)),
        "testid": f"{lab.dense.testid}|{lab.seed.testid}",
    }


def all_values(board: dict[str, Any]) -> dict[str, str]:
    """The variables left at All, as Grafana sends them: each one's allValue."""
    return {variable["name"]: variable["allValue"] for variable in board["templating"]["list"]}


def instant_exprs(board: dict[str, Any]) -> set[str]:
    return {
        query["expr"]
        for panel in board["panels"]
        for query in panel.get("targets", [])
        if query.get("instant")
    }


def empty_panels(
    lab: Lab, board: dict[str, Any], values: dict[str, str], time_range: TimeRange, k6_only: bool
) -> list[str]:
    """Every panel query (only the k6 ones if ``k6_only``) that returns no finite value."""
    instant = instant_exprs(board)
    empty = []
    for title, expr in panel_queries(board):
        if k6_only and "k6_" not in expr:
            continue
        concrete = interpolate(expr, values, time_range)
        assert "$" not in concrete, f"panel {title!r}: unsubstituted variable in {concrete}"
        result = run_query(lab.prometheus, concrete, expr in instant, time_range)
        if not has_finite_value(result):
            empty.append(f"panel {title!r} returned no data: {concrete}")
    return empty


@pytest.mark.live
@pytest.mark.parametrize("picked", ["selected", "all"])
def test_every_dashboard_panel_returns_data(lab: Lab, picked: str) -> None:
    board = json.loads(DASHBOARD_PATH.read_text())
    values = selected_values(lab) if picked == "selected" else all_values(board)
    empty = empty_panels(lab, board, values, lab.whole_range(), k6_only=False)
    assert not empty, "\n".join(empty)
    assert len(panel_queries(board)) >= 20


@pytest.mark.live
@pytest.mark.parametrize("which", ["seed", "dense"])
def test_every_k6_panel_shows_each_run_on_its_own(lab: Lab, which: str) -> None:
    """The run picked alone, its time range from its start to a little after its end."""
    run = lab.seed if which == "seed" else lab.dense
    board = json.loads(DASHBOARD_PATH.read_text())
    values = {**all_values(board), "service": run.service, "testid": run.testid}
    time_range = TimeRange(run.started - RANGE_MARGIN_S, run.ended + RANGE_MARGIN_S)
    assert time_range.builtins()["__rate_interval"] == "4s"  # Grafana's at 1 s scrapes
    k6_queries = [expr for _, expr in panel_queries(board) if "k6_" in expr]
    assert len(k6_queries) >= 12
    empty = empty_panels(lab, board, values, time_range, k6_only=True)
    assert not empty, "\n".join(empty)


def run_totals(lab: Lab, run: Run) -> dict[str, float]:
    """The k6 runs table's line for ``run``, column by column."""
    board = json.loads(DASHBOARD_PATH.read_text())
    (table,) = [p for p in board["panels"] if p["title"].startswith("k6 runs")]
    names = table["transformations"][1]["options"]["renameByName"]
    values = {**all_values(board), "service": run.service, "testid": run.testid}
    time_range = TimeRange(run.started - RANGE_MARGIN_S, run.ended + RANGE_MARGIN_S)
    totals = {}
    for query in table["targets"]:
        expr = interpolate(query["expr"], values, time_range)
        (line,) = run_query(lab.prometheus, expr, instant=True, time_range=time_range)
        assert line["metric"] == {"testid": run.testid, "service": run.service}
        totals[names[f"Value #{query['refId']}"]] = float(line["value"][1])
    return totals


@pytest.mark.live
def test_the_runs_table_counts_the_seed_demo_exactly(lab: Lab) -> None:
    """Three users, one request each: 3 requests, none failed, each taking ~5, ~10, ~15 s."""
    totals = run_totals(lab, lab.seed)
    assert totals["requests"] == 3
    assert totals["failed"] == 0
    assert totals["dropped"] == 0
    # One sync worker: the last user waited for the other two, ~15 s. Its request
    # is the run's last sample (three-users.js pauses before k6 stops so that the
    # stale markers do not hide it); without it p99 would read ~10 s. Native-
    # histogram buckets are ~9% wide, so the quantiles are approximate.
    assert 13 <= totals["p99"] <= 17, totals
    assert totals["p50"] <= totals["p95"] <= totals["p99"]


@pytest.mark.live
def test_the_runs_table_counts_the_dense_run(lab: Lab) -> None:
    totals = run_totals(lab, lab.dense)
    assert totals["requests"] > 10
    assert totals["failed"] > 0  # the 404s of tests/data/k6-dashboards.js
    assert totals["dropped"] > 0  # 30 arrivals/s for 2 VUs


@pytest.mark.live
def test_the_vu_series_goes_stale_when_a_run_ends(lab: Lab) -> None:
    """K6_PROMETHEUS_RW_STALE_MARKERS: "k6 virtual users" drops at the end of each run.

    Without the markers an instant query keeps returning the last VU count
    for Prometheus's 5-minute lookback.
    """
    for run in (lab.dense, lab.seed):
        selector = f'k6_vus{{testid="{run.testid}"}}'
        during = lab.prometheus.query_range(selector, run.started, run.ended, step=1)
        assert during, f"no VU series for {run.testid} during the run"
        deadline = run.ended + STALE_WAIT_S
        while lab.prometheus.query(selector) and time.time() < deadline:
            time.sleep(0.5)
        assert not lab.prometheus.query(selector), f"{selector} still answers after the run"


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
        expr = f'{rule["record"]}{{service=~".+"}}'
        result = run_query(lab.prometheus, expr, instant=False, time_range=lab.whole_range())
        if not has_finite_value(result):
            empty.append(f"rule {rule['record']} ({rule.get('labels', {})}) has no data")
    assert not empty, "\n".join(empty)


@pytest.mark.live
def test_the_template_variables_list_the_rows_routes_and_run(lab: Lab) -> None:
    board = json.loads(DASHBOARD_PATH.read_text())
    for variable in board["templating"]["list"]:
        query = interpolate(variable["query"]["query"], selected_values(lab), lab.whole_range())
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
            "testid": {lab.dense.testid, lab.seed.testid},
        }[variable["name"]]
        assert expected <= values, f"${variable['name']}: {values}"


def series_max(lab: Lab, expr: str) -> float:
    start, end = lab.dense.started - RANGE_MARGIN_S, lab.dense.ended + 2
    result = lab.prometheus.query_range(expr, start, end, step=1)
    values = [float(v) for series in result for _, v in series["values"]]
    finite = [v for v in values if math.isfinite(v)]
    assert finite, f"no data for {expr}"
    return max(finite)


@pytest.mark.live
def test_the_panels_show_a_saturated_sync_worker(lab: Lab) -> None:
    """The dense k6 run (2 VUs, /io?ms=200) on flask-sync's single worker, as panels show it."""
    sync = 'service="flask-sync"'
    window = "10s"  # as the recording rules: stable over the 5 s run
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
        f'{{testid="{lab.testid}", group!="::setup"}}[{window}])))',
    )
    server_p95 = series_max(
        lab,
        "service_route:http_server_request_duration_seconds:histogram_quantile10s"
        f'{{{sync}, route="/io", quantile="0.95"}}',
    )
    assert k6_p95 > 1.25 * server_p95, (k6_p95, server_p95)
    assert series_max(lab, f"service:bench_listen_backlog:max10s{{{sync}}}") >= 1
    # 30/s arriving, 2 VUs of ~0.4 s each: k6 drops most iterations.
    dropped = f'sum(rate(k6_dropped_iterations_total{{testid="{lab.testid}"}}[{window}]))'
    assert series_max(lab, dropped) > 1


@pytest.mark.live
def test_the_k6_series_list_is_what_k6_pushed(lab: Lab) -> None:
    """The static checks' list of k6 names is exactly what this real k6 run pushed."""
    pushed = {
        series["__name__"]
        for series in lab.prometheus.series(f'{{testid="{lab.testid}"}}', start=lab.started - 5)
    }
    assert pushed == K6_METRICS, (sorted(pushed - K6_METRICS), sorted(K6_METRICS - pushed))


@pytest.mark.live
def test_every_panel_of_grafanas_native_histogram_k6_dashboard_returns_data(lab: Lab) -> None:
    """Grafana's k6 dashboard 18030, as a user would import it, over both runs.

    Its variables as Grafana fills them: testid at All (every testid the
    label_values query finds, as a regex), quantile at its default, no ad-hoc
    filter. Its panels rate() over $__rate_interval, so they need a dense
    run: the seed demo alone leaves them empty (docs/dashboards.md).
    """
    board = k6_reference.load(k6_reference.NATIVE_HISTOGRAM_FILE)
    time_range = lab.whole_range()
    testids = httpx.get(
        f"{lab.prometheus.base_url}/api/v1/label/testid/values",
        params={"start": time_range.start, "end": time_range.end},
        timeout=10,
    ).json()["data"]
    assert {lab.dense.testid, lab.seed.testid} <= set(testids)
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert set(variables) == {"DS_PROMETHEUS", "testid", "quantile", "adhoc_filter"}
    values = {"testid": multi_value(testids), "quantile": variables["quantile"]["current"]["value"]}
    targets = k6_reference.panel_targets(board)
    assert len(targets) >= 30
    empty = []
    for title, target in targets:
        expr = interpolate(target["expr"], values, time_range)
        assert "$" not in expr, f"panel {title!r}: unsubstituted variable in {expr}"
        result = run_query(lab.prometheus, expr, bool(target.get("instant")), time_range)
        if not has_finite_value(result):
            empty.append(f"18030 panel {title!r} ({target['refId']}) returned no data: {expr}")
    assert not empty, "\n".join(empty)


def test_19665_reads_trend_stats_that_native_histograms_do_not_send() -> None:
    """Why docs/dashboards.md points at 18030: 19665's latency panels read k6_*_p99 and the like.

    k6 sends those trend-stat gauges only when trends are not native
    histograms; with K6_PROMETHEUS_RW_TREND_AS_NATIVE_HISTOGRAM they are
    never pushed (tests/k6_series.py lists what is).
    """
    board = k6_reference.load(k6_reference.TREND_STATS_FILE)
    exprs = [target["expr"] for _, target in k6_reference.panel_targets(board)]
    stat_queries = [e for e in exprs if "$quantile_stat" in e or re.search(r"_p9\d\b", e)]
    assert len(stat_queries) >= 10
    # Every trend stat the variable offers (p99, p95, ...), as Grafana would fill it in.
    read = {
        name
        for stat in ("p99", "p95", "p90", "med", "avg", "min", "max")
        for expr in stat_queries
        for name in re.findall(r"k6_\w+", expr.replace("$quantile_stat", stat))
    }
    assert "k6_http_req_duration_p99" in read
    assert not read & K6_METRICS, read & K6_METRICS
    assert "k6_http_req_duration_seconds" in K6_METRICS  # the native histogram 18030 reads
