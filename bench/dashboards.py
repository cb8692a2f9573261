"""The Grafana comparison dashboard, written as code.

grafana/dashboards/sync-async-compare.json is generated from this module
(`bench dashboards`) and checked in; a test fails when they differ. Panels
read the recording rules in prometheus/rules/bench.yml where one exists, and
k6's remote-written series (k6_*) for the client side of the same run, through
bench/k6_promql.py so that sparse runs (the seed demo) fill the panels too.
Every row has one colour on every panel (bench/dashboard_colours.py).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from bench.atomic import write_text_atomically
from bench.dashboard_colours import colour_overrides, service_cell_override
from bench.k6_promql import (
    whole_run,
    whole_run_quantile,
    window_increase,
    window_quantile,
    window_rate,
)
from bench.paths import GRAFANA_DIR
from services.servers import granian

DASHBOARD_UID = "sync-async-compare"
DASHBOARD_PATH = GRAFANA_DIR / "dashboards" / f"{DASHBOARD_UID}.json"
# Provisioned in grafana/provisioning/datasources/prometheus.yml with this uid.
DATASOURCE = {"type": "prometheus", "uid": "prometheus"}

SERVICE = 'service=~"$service"'
ROUTE = 'route=~"$route"'
# k6 series of the selected runs; the setup() health check is not load.
K6 = 'testid=~"$testid", service=~"$service", group!="::setup"'
# k6 series that carry no group (dropped iterations, VUs).
K6_RUN = 'testid=~"$testid", service=~"$service"'
K6_REQS = f"k6_http_reqs_total{{{K6}}}"
K6_FAILED = f'k6_http_reqs_total{{{K6}, expected_response="false"}}'
K6_DURATION = f"k6_http_req_duration_seconds{{{K6}}}"
K6_DROPPED = f"k6_dropped_iterations_total{{{K6_RUN}}}"

Panel = dict[str, Any]
Target = dict[str, Any]

PANEL_WIDTH = 12
PANEL_HEIGHT = 8


def target(expr: str, legend: str, ref_id: str = "A") -> Target:
    return {"datasource": DATASOURCE, "expr": expr, "legendFormat": legend, "refId": ref_id}


def targets(*pairs: tuple[str, str]) -> list[Target]:
    """Targets A, B, C... from (expr, legend) pairs."""
    return [target(expr, legend, chr(ord("A") + i)) for i, (expr, legend) in enumerate(pairs)]


def dashed(name_regex: str) -> dict[str, Any]:
    """An override drawing matching series as dashed lines (limits, not measurements)."""
    return {
        "matcher": {"id": "byRegexp", "options": name_regex},
        "properties": [
            {"id": "custom.lineStyle", "value": {"fill": "dash", "dash": [10, 10]}},
            {"id": "custom.fillOpacity", "value": 0},
        ],
    }


def timeseries(
    title: str,
    description: str,
    panel_targets: list[Target],
    unit: str,
    *,
    overrides: list[dict[str, Any]] | None = None,
    max_value: float | None = None,
) -> Panel:
    defaults: dict[str, Any] = {
        "unit": unit,
        "min": 0,
        "custom": {"drawStyle": "line", "lineWidth": 2, "fillOpacity": 10, "spanNulls": False},
    }
    if max_value is not None:
        defaults["max"] = max_value
    return {
        "type": "timeseries",
        "title": title,
        "description": description,
        "datasource": DATASOURCE,
        "targets": panel_targets,
        # Row colours first: the panel's own overrides (dashed lines, axes)
        # change other properties and keep the row's colour.
        "fieldConfig": {
            "defaults": defaults,
            "overrides": [*colour_overrides(), *(overrides or [])],
        },
        "options": {
            "legend": {
                "displayMode": "table",
                "placement": "bottom",
                "calcs": ["lastNotNull", "max"],
            },
            "tooltip": {"mode": "multi", "sort": "desc"},
        },
    }


INFO_LABELS = ("service", "framework", "interface", "server", "worker_class", "workers", "threads")


def table_target(expr: str, ref_id: str = "A") -> Target:
    query = target(expr, "", ref_id)
    query.update({"format": "table", "instant": True})
    return query


def row_info_table() -> Panel:
    query = table_target(f"max by ({', '.join(INFO_LABELS)}) (bench_service_info{{{SERVICE}}})")
    return {
        "type": "table",
        "title": "Rows: what each service is",
        "description": "bench_service_info: framework, WSGI/ASGI, server, worker class, "
        "workers (W) and threads (T) of every selected row.",
        "datasource": DATASOURCE,
        "targets": [query],
        "transformations": [
            {
                "id": "organize",
                "options": {
                    "excludeByName": {"Time": True, "Value": True},
                    # Prometheus sorts labels by name, which put service fourth.
                    "indexByName": {label: i for i, label in enumerate(INFO_LABELS)},
                },
            }
        ],
        "fieldConfig": {"defaults": {}, "overrides": [service_cell_override()]},
        "options": {"showHeader": True},
    }


def section(title: str) -> Panel:
    return {"type": "row", "title": title, "collapsed": False, "panels": []}


def server_panels() -> list[Panel]:
    quantiles = "service_route:http_server_request_duration_seconds:histogram_quantile10s"
    return [
        section("Throughput and latency (server side)"),
        timeseries(
            "Throughput vs Little's-law capacity",
            "Requests per second each row completes (solid) and the most it could complete "
            "with its slots busy all the time: slots / mean service time (dashed, rows with a "
            "fixed number of slots only). When the solid line meets the dashed one the row "
            "is saturated and further load only queues.",
            targets(
                (f"service:http_server_requests:rate10s{{{SERVICE}}}", "{{service}}"),
                (
                    f"service:bench_capacity_requests:rate_littles_law{{{SERVICE}}}",
                    "{{service}} capacity",
                ),
            ),
            "reqps",
            overrides=[dashed(".* capacity$")],
        ),
        timeseries(
            "Throughput by route",
            "Requests per second by route template (health checks excluded).",
            targets(
                (
                    f"service_route:http_server_requests:rate10s{{{SERVICE}, {ROUTE}}}",
                    "{{service}} {{route}}",
                )
            ),
            "reqps",
        ),
        timeseries(
            "Server latency p50 / p95 / p99 by route",
            "Time inside the app, from the server's histogram (10 s window). Waiting in "
            "the listen queue is not included: compare with the k6-side latency.",
            targets(
                *(
                    (
                        f'{quantiles}{{{SERVICE}, {ROUTE}, quantile="{q}"}}',
                        f"{{{{service}}}} {{{{route}}}} p{label}",
                    )
                    for q, label in (("0.5", "50"), ("0.95", "95"), ("0.99", "99"))
                )
            ),
            "s",
        ),
        timeseries(
            "k6 latency p95 / p99 (client side)",
            "What the users of the selected k6 runs saw, from k6's native histogram: "
            "includes queueing in the listen backlog and in the server, which the server "
            "histogram cannot see. Requests completed within each rate window; for a "
            "sparse run, where no window holds two samples of a series (the seed demo: one "
            "request per user), the quantile of the run so far. The k6 runs table has the "
            "whole run's quantiles.",
            targets(
                *(
                    (
                        window_quantile(q, K6_DURATION, "service"),
                        f"{{{{service}}}} k6 p{label}",
                    )
                    for q, label in (("0.95", "95"), ("0.99", "99"))
                )
            ),
            "s",
        ),
        timeseries(
            "Errors: 5xx share (server) and failed requests (k6)",
            "Server: share of answers that are 5xx. k6: share of requests k6 counted as "
            "failed (status outside 200-399, timeouts, refused connections).",
            targets(
                (
                    f"service:http_server_errors:ratio_rate10s{{{SERVICE}}}",
                    "{{service}} server 5xx",
                ),
                (
                    # No failed series at all is 0%, not a gap.
                    f"(sum by (service) ({window_increase(K6_FAILED)})"
                    f" or sum by (service) ({window_increase(K6_REQS)}) * 0)"
                    f" / sum by (service) ({window_increase(K6_REQS)})",
                    "{{service}} k6 failed",
                ),
            ),
            "percentunit",
        ),
        row_info_table(),
    ]


def concurrency_panels() -> list[Panel]:
    return [
        section("Concurrency and saturation"),
        timeseries(
            "Active requests (concurrency)",
            "Requests inside the app right now. Three users on /sync of a one-worker sync "
            "row: 1 (the others wait in the backlog); on /async: 3.",
            targets((f"service:http_server_active_requests:sum{{{SERVICE}}}", "{{service}}")),
            "short",
        ),
        timeseries(
            "Worker slots: busy vs available",
            "Slots in use (solid) against how many requests the row can run at once (dashed: "
            "sync W, gthread W x T, gevent W x C). Async rows have no fixed slots.",
            targets(
                (f"sum by (service) (bench_worker_busy{{{SERVICE}}})", "{{service}} busy"),
                (f"sum by (service) (bench_worker_slots{{{SERVICE}}})", "{{service}} slots"),
            ),
            "short",
            overrides=[dashed(".* slots$")],
        ),
        timeseries(
            "Saturation (busy / slots)",
            "Average share of the row's request slots in use over 10 s. At 100% new "
            "requests wait for a slot.",
            targets((f"service:bench_worker_saturation:ratio_avg10s{{{SERVICE}}}", "{{service}}")),
            "percentunit",
            max_value=1,
        ),
        timeseries(
            "Listen backlog",
            "Connections the kernel accepted that no worker has taken yet (worst value over "
            "10 s). Growing backlog = users waiting before the server even sees them. Granian "
            "rows accept at once and queue requests themselves: their wait is Granian's own "
            "queue (worst over 10 s, summed over workers).",
            targets(
                (f"service:bench_listen_backlog:max10s{{{SERVICE}}}", "{{service}}"),
                (
                    f"sum by (service) (max_over_time({granian.QUEUE_SERIES}{{{SERVICE}}}[10s]))",
                    "{{service}} in Granian's queue",
                ),
            ),
            "short",
        ),
        timeseries(
            "CPU (cores used)",
            "CPU seconds per second of the row's processes (master and workers): 1 = one "
            "core busy.",
            targets((f"service:bench_process_cpu_seconds:rate10s{{{SERVICE}}}", "{{service}}")),
            "short",
        ),
    ]


def asgi_panels() -> list[Panel]:
    lag = "service:bench_event_loop_lag_seconds:histogram_quantile10s"
    return [
        section("ASGI: event loop and thread pool"),
        timeseries(
            "Event-loop lag p50 / p99",
            "How late the event loop woke a periodic probe. Near zero on a healthy loop; "
            "time.sleep inside async def (/io/blocking) or CPU work on the loop pushes it up "
            "to the length of the block.",
            targets(
                (f'{lag}{{{SERVICE}, quantile="0.5"}}', "{{service}} p50"),
                (f'{lag}{{{SERVICE}, quantile="0.99"}}', "{{service}} p99"),
            ),
            "s",
        ),
        timeseries(
            "Thread pool: utilisation and waiting tasks",
            "Plain def handlers (/io/thread) run in AnyIO's default thread pool: share of "
            "its threads in use (left axis) and tasks waiting for a thread (right axis).",
            targets(
                (f"service:bench_threadpool_utilisation:ratio{{{SERVICE}}}", "{{service}} in use"),
                (f"service:bench_threadpool_waiting:sum{{{SERVICE}}}", "{{service}} waiting"),
            ),
            "percentunit",
            overrides=[
                {
                    "matcher": {"id": "byRegexp", "options": ".* waiting$"},
                    "properties": [
                        {"id": "unit", "value": "short"},
                        {"id": "custom.axisPlacement", "value": "right"},
                    ],
                }
            ],
        ),
    ]


def database_panels() -> list[Panel]:
    return [
        section("Database pool"),
        timeseries(
            "Database pool: in use, waiting, size",
            "Pooled PostgreSQL connections held by requests (solid) against the pool size "
            "(dashed: BENCH_DB_POOL per worker process), and requests waiting for a "
            "connection. In use at the size with requests waiting: the pool, not the "
            "workers, limits the row.",
            targets(
                (f"sum by (service) (bench_db_pool_in_use{{{SERVICE}}})", "{{service}} in use"),
                (f"sum by (service) (bench_db_pool_waiting{{{SERVICE}}})", "{{service}} waiting"),
                (f"sum by (service) (bench_db_pool_size{{{SERVICE}}})", "{{service}} slots"),
            ),
            "short",
            overrides=[dashed(".* slots$")],
        ),
    ]


def k6_panels() -> list[Panel]:
    return [
        section("k6 load (selected runs)"),
        timeseries(
            "k6 virtual users",
            "VUs k6 runs. Closed model (ramp): each VU waits for its answer before asking "
            "again, so a slow row also slows the load.",
            targets(
                (f'sum by (service) (k6_vus{{testid=~"$testid", {SERVICE}}})', "{{service}} VUs")
            ),
            "short",
        ),
        timeseries(
            "k6 requests vs dropped iterations",
            "Requests per second k6 sent (solid) and iterations it could not start for lack "
            "of VUs (dashed; open-model scenarios such as arrival): dropped work is load the "
            "row failed to absorb. Averaged over each rate window, sparse runs included; "
            "a run without dropped iterations shows 0.",
            targets(
                (f"sum by (service) ({window_rate(K6_REQS)})", "{{service}} sent"),
                (
                    f"sum by (service) ({window_rate(K6_DROPPED)})"
                    f" or sum by (service) ({window_rate(K6_REQS)}) * 0",
                    "{{service}} dropped",
                ),
            ),
            "reqps",
            overrides=[dashed(".* dropped$")],
        ),
        k6_runs_table(),
    ]


RUN_LABELS = "testid, service"
RUN_COLUMNS = (
    ("requests", f"sum by ({RUN_LABELS}) ({whole_run(K6_REQS)})"),
    (
        "failed",
        f"sum by ({RUN_LABELS}) ({whole_run(K6_FAILED)})"
        f" or sum by ({RUN_LABELS}) ({whole_run(K6_REQS)}) * 0",
    ),
    (
        "dropped",
        f"sum by ({RUN_LABELS}) ({whole_run(K6_DROPPED)})"
        f" or sum by ({RUN_LABELS}) ({whole_run(K6_REQS)}) * 0",
    ),
    *(
        (f"p{label}", whole_run_quantile(q, K6_DURATION, RUN_LABELS))
        for q, label in (("0.5", "50"), ("0.95", "95"), ("0.99", "99"))
    ),
)


def k6_runs_table() -> Panel:
    """One line per run and row: the whole run's counts and latency quantiles."""
    queries = [table_target(expr, chr(ord("A") + i)) for i, (_, expr) in enumerate(RUN_COLUMNS)]
    value_names = {
        f"Value #{query['refId']}": name
        for query, (name, _) in zip(queries, RUN_COLUMNS, strict=True)
    }
    latency = [name for name, _ in RUN_COLUMNS if name.startswith("p")]
    return {
        "type": "table",
        "title": "k6 runs: whole-run requests and latency",
        "description": "Per k6 run (testid) and row, from k6's cumulative counters and native "
        "histogram at the end of the run (last value within the time range): requests sent, "
        "failed, dropped iterations, and p50/p95/p99 of every request of the run. Works for "
        "a run of three requests as for a dense one; a run that started before the range is "
        "counted from its start.",
        "datasource": DATASOURCE,
        "targets": queries,
        "transformations": [
            # One line per (testid, service), one column per query.
            {"id": "merge", "options": {}},
            {
                "id": "organize",
                "options": {
                    "excludeByName": {"Time": True},
                    "indexByName": {
                        "service": 0,
                        "testid": 1,
                        **{value: i + 2 for i, value in enumerate(value_names)},
                    },
                    "renameByName": value_names,
                },
            },
        ],
        "fieldConfig": {
            "defaults": {},
            "overrides": [
                service_cell_override(),
                *(
                    {
                        "matcher": {"id": "byName", "options": name},
                        "properties": [{"id": "unit", "value": "s"}],
                    }
                    for name in latency
                ),
            ],
        },
        "options": {"showHeader": True, "sortBy": [{"displayName": "testid", "desc": True}]},
    }


def query_variable(name: str, label: str, query: str, sort: int) -> dict[str, Any]:
    """A multi-select variable over a label's values, All by default (any value)."""
    return {
        "type": "query",
        "name": name,
        "label": label,
        "datasource": DATASOURCE,
        "definition": query,
        "query": {"query": query, "refId": f"{name}-values"},
        "refresh": 2,  # on time-range change: new rows and new runs appear
        "multi": True,
        "includeAll": True,
        # ".*" also matches a missing label: a k6 run started without
        # --tag service=/testid= (plain `k6 run`) still shows under All.
        "allValue": ".*",
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
        "sort": sort,
    }


def layout(panels: list[Panel]) -> list[Panel]:
    """Ids and grid positions: rows span the width, other panels two to a line."""
    x, y = 0, 0
    for panel_id, panel in enumerate(panels, start=1):
        panel["id"] = panel_id
        if panel["type"] == "row":
            y += PANEL_HEIGHT if x else 0
            panel["gridPos"] = {"h": 1, "w": 24, "x": 0, "y": y}
            x, y = 0, y + 1
            continue
        panel["gridPos"] = {"h": PANEL_HEIGHT, "w": PANEL_WIDTH, "x": x, "y": y}
        x += PANEL_WIDTH
        if x >= 24:
            x, y = 0, y + PANEL_HEIGHT
    return panels


def dashboard() -> dict[str, Any]:
    panels = [
        *server_panels(),
        *concurrency_panels(),
        *asgi_panels(),
        *database_panels(),
        *k6_panels(),
    ]
    return {
        "uid": DASHBOARD_UID,
        "title": "Sync vs async: compare rows",
        "description": "WSGI vs ASGI, sync vs async rows side by side under the same load "
        "(docs/dashboards.md explains every panel).",
        "tags": ["sync-async-bench"],
        "editable": False,
        "graphTooltip": 1,  # shared crosshair: the same moment on every panel
        "refresh": "5s",
        "time": {"from": "now-15m", "to": "now"},
        "timepicker": {"refresh_intervals": ["5s", "10s", "30s", "1m", "5m"]},
        "schemaVersion": 39,
        "version": 1,
        "templating": {
            "list": [
                query_variable(
                    "service", "Row", "label_values(bench_service_info, service)", sort=1
                ),
                query_variable(
                    "route",
                    "Route",
                    "label_values(http_server_request_duration_seconds_count"
                    '{service=~"$service"}, route)',
                    sort=1,
                ),
                # Run ids start with their start time: newest first.
                query_variable("testid", "k6 run", "label_values(k6_vus, testid)", sort=2),
            ]
        },
        "annotations": {"list": []},
        "links": [],
        "panels": layout(panels),
    }


def panel_queries(board: dict[str, Any]) -> list[tuple[str, str]]:
    """(panel title, PromQL expression) for every target of every panel."""
    return [
        (panel["title"], query["expr"])
        for panel in board["panels"]
        for query in panel.get("targets", [])
    ]


def render() -> str:
    return json.dumps(dashboard(), indent=2) + "\n"


def write(path: Path = DASHBOARD_PATH) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomically(path, render())
    return path


def run(args: argparse.Namespace) -> int:
    if args.check:
        if not DASHBOARD_PATH.is_file() or DASHBOARD_PATH.read_text() != render():
            print(
                f"{DASHBOARD_PATH} is out of date: run `bench dashboards` and commit it",
                file=sys.stderr,
            )
            return 1
        print(f"{DASHBOARD_PATH} is up to date")
        return 0
    print(f"wrote {write()}")
    return 0


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    parser = subparsers.add_parser(
        "dashboards",
        help="regenerate the Grafana dashboard JSON from bench/dashboards.py",
        description=f"Write {DASHBOARD_PATH.name} from bench/dashboards.py (docs/dashboards.md).",
    )
    parser.add_argument(
        "--check", action="store_true", help="only check that the checked-in JSON is current"
    )
    parser.set_defaults(handler=run)
