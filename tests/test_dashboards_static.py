"""Grafana provisioning and the dashboard, checked without a Grafana.

Every metric a panel or a recording rule reads must be one the instrumentation
really exports, a recording rule, or a k6 series: a typo would otherwise only
show up as an empty panel in front of an audience.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import matplotlib
import pytest
import yaml
from matplotlib.colors import to_hex
from prometheus_client import CollectorRegistry
from prometheus_client.metrics import MetricWrapperBase

from bench.dashboard_colours import PALETTE, row_colours, series_of_row
from bench.dashboards import DASHBOARD_PATH, DATASOURCE, dashboard, panel_queries, render
from bench.matrix import charts
from bench.paths import GRAFANA_DIR, PROMETHEUS_DIR
from services.instrumentation import metrics
from services.instrumentation.collectors import ServerCollector
from services.rows import ROWS
from services.servers import granian
from services.settings import load_settings
from tests.k6_series import K6_METRICS

PROVISIONING = GRAFANA_DIR / "provisioning"
RULE_FILES = sorted((PROMETHEUS_DIR / "rules").glob("*.yml"))

SAMPLE_SUFFIXES = {"histogram": ("_bucket", "_count", "_sum"), "counter": ("_total",)}
PROMQL_WORDS = frozenset({
    "by", "without", "on", "ignoring", "group_left", "group_right", "bool",
    "and", "or", "unless", "offset", "inf", "nan",
})  # fmt: skip


def sample_names(family_name: str, family_type: str) -> set[str]:
    suffixes = SAMPLE_SUFFIXES.get(family_type, ("",))
    return {family_name + suffix for suffix in suffixes}


def instrumentation_metric_names() -> set[str]:
    """Series names the rows export, read from the instrumentation package itself."""
    objects: list[MetricWrapperBase] = [
        value for value in vars(metrics).values() if isinstance(value, MetricWrapperBase)
    ]
    # Built on first use (only the rows they apply to export them).
    objects += [metrics.worker_slots(), metrics.event_loop_lag(), *metrics.threadpool_gauges()]
    objects += metrics.db_pool_metrics()
    names: set[str] = set()
    for metric in objects:
        for family in metric.describe():
            names |= sample_names(family.name, family.type)
    # Scrape-time values of the metrics server, from the real collector.
    collector = ServerCollector(load_settings("flask-sync", {}), os.getpid(), CollectorRegistry())
    for family in collector.collect():
        names |= {sample.name for sample in family.samples}
    return names


def recording_rules() -> list[dict[str, Any]]:
    return [
        rule
        for path in RULE_FILES
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
    ]


RECORDED = frozenset(rule["record"] for rule in recording_rules())


def metric_names(expr: str) -> set[str]:
    """Metric names a PromQL expression selects (label matchers, ranges, by-lists removed)."""
    stripped = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    # Grafana variables outside brackets ($__rate_interval_ms / 1000, offset $__x).
    stripped = re.sub(r"\$\{?\w+\}?", " 1 ", stripped)
    stripped = re.sub(r"\{[^}]*\}|\[[^\]]*\]", " ", stripped)
    stripped = re.sub(
        r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", stripped
    )
    names = set()
    for match in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", stripped):
        following = stripped[match.end() :].lstrip()
        if following.startswith("(") or match.group().lower() in PROMQL_WORDS:
            continue  # a function call or a keyword
        if stripped[match.start() - 1 : match.start()].isdigit():
            continue  # the exponent of a number such as 1e3
        names.add(match.group())
    return names


def variable_metric(query: str) -> str:
    match = re.fullmatch(r"label_values\((\w+)(?:\{[^}]*\})?, *(\w+)\)", query)
    assert match, f"not a label_values(metric, label) query: {query}"
    return match.group(1)


def walk(node: Any) -> Iterator[tuple[str, Any]]:
    """Every (key, value) pair anywhere in a JSON document."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield key, value
            yield from walk(value)
    elif isinstance(node, list):
        for item in node:
            yield from walk(item)


@pytest.fixture(scope="module")
def board() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD_PATH.read_text())
    return loaded


@pytest.fixture(scope="module")
def known_metrics() -> set[str]:
    # Granian's own series the row relays (docs/metrics.md) and the panels read.
    return instrumentation_metric_names() | RECORDED | K6_METRICS | {granian.QUEUE_SERIES}


def test_metric_name_extraction() -> None:
    expr = (
        'histogram_quantile(0.95, sum by (service, le) (rate(a_bucket{x=~"b|c"}[1m])))'
        " / on (service) group_left b:c:d or vector(1e3) * rate(e_total[$__rate_interval])"
    )
    assert metric_names(expr) == {"a_bucket", "b:c:d", "e_total"}


def test_the_instrumentation_names_are_the_contract() -> None:
    names = instrumentation_metric_names()
    assert {
        "http_server_request_duration_seconds_bucket",
        "http_server_active_requests",
        "bench_worker_slots",
        "bench_worker_busy",
        "bench_listen_backlog",
        "bench_event_loop_lag_seconds_bucket",
        "bench_threadpool_busy",
        "bench_db_pool_in_use",
        "bench_db_pool_waiting",
        "bench_db_pool_size",
        "bench_db_pool_wait_seconds_bucket",
        "bench_process_cpu_seconds_total",
        "bench_service_info",
    } <= names


@pytest.mark.parametrize(
    "path", sorted(PROVISIONING.rglob("*.yml")), ids=lambda p: str(p.relative_to(GRAFANA_DIR))
)
def test_provisioning_files_parse(path: Path) -> None:
    assert yaml.safe_load(path.read_text())["apiVersion"] == 1


def test_the_datasource_has_the_uid_panels_use_and_an_interpolated_url() -> None:
    (config,) = [yaml.safe_load(p.read_text()) for p in (PROVISIONING / "datasources").glob("*")]
    (source,) = config["datasources"]
    assert source["uid"] == DATASOURCE["uid"]
    assert source["type"] == DATASOURCE["type"]
    # One provisioning directory for compose and native: hosts come from the env.
    assert source["url"] == "${PROMETHEUS_URL}"


def test_the_dashboard_provider_reads_the_dashboards_directory() -> None:
    (config,) = [yaml.safe_load(p.read_text()) for p in (PROVISIONING / "dashboards").glob("*")]
    (provider,) = config["providers"]
    assert provider["type"] == "file"
    assert provider["options"]["path"] == "${GRAFANA_DASHBOARDS_DIR}"
    assert DASHBOARD_PATH.parent == GRAFANA_DIR / "dashboards"


def test_the_checked_in_dashboard_is_the_generator_output() -> None:
    assert DASHBOARD_PATH.read_text() == render(), "run `bench dashboards` and commit the JSON"


def test_every_datasource_reference_is_the_provisioned_uid(board: dict[str, Any]) -> None:
    references = [value for key, value in walk(board) if key == "datasource"]
    assert len(references) > len(board["panels"])  # panels, targets and variables
    assert all(reference == DATASOURCE for reference in references), references


def test_the_dashboard_is_addressed_by_uid_not_numeric_ids(board: dict[str, Any]) -> None:
    assert board["uid"] == "sync-async-compare"
    assert "id" not in board  # Grafana assigns its own; a checked-in one would clash
    assert not {key for key, _ in walk(board)} & {"dashboardId", "panelId", "folderId"}
    ids = [panel["id"] for panel in board["panels"]]
    assert len(ids) == len(set(ids))


def test_panels_do_not_overlap(board: dict[str, Any]) -> None:
    cells: dict[tuple[int, int], str] = {}
    for panel in board["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        for x in range(grid["x"], grid["x"] + grid["w"]):
            for y in range(grid["y"], grid["y"] + grid["h"]):
                assert (x, y) not in cells, f"{panel['title']} overlaps {cells[(x, y)]}"
                cells[(x, y)] = panel["title"]


def test_the_dashboard_shows_what_the_design_asks_for(board: dict[str, Any]) -> None:
    exprs = " ".join(expr for _, expr in panel_queries(board))
    for needed in (
        "service:http_server_requests:rate10s",
        "service_route:http_server_request_duration_seconds:histogram_quantile10s",
        "k6_http_req_duration_seconds",
        "service:http_server_active_requests:sum",
        "bench_worker_slots",
        "service:bench_worker_saturation:ratio_avg10s",
        "service:bench_listen_backlog:max10s",
        "service:bench_event_loop_lag_seconds:histogram_quantile10s",
        "service:bench_threadpool_utilisation:ratio",
        "service:bench_process_cpu_seconds:rate10s",
        "service:http_server_errors:ratio_rate10s",
        "k6_vus",
        "k6_dropped_iterations_total",
        "service:bench_capacity_requests:rate_littles_law",
    ):
        assert needed in exprs
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["service"]["query"]["query"] == "label_values(bench_service_info, service)"
    assert variables["service"]["multi"]
    assert variables["service"]["includeAll"]
    assert {"route", "testid"} <= set(variables)


def test_every_panel_query_reads_known_metrics(
    board: dict[str, Any], known_metrics: set[str]
) -> None:
    for title, expr in panel_queries(board):
        unknown = metric_names(expr) - known_metrics
        assert not unknown, f"panel {title!r} reads unknown metrics {unknown}: {expr}"
    for variable in board["templating"]["list"]:
        assert variable_metric(variable["query"]["query"]) in known_metrics, variable["name"]


def test_every_recording_rule_reads_known_metrics(known_metrics: set[str]) -> None:
    for rule in recording_rules():
        unknown = metric_names(rule["expr"]) - known_metrics
        assert not unknown, f"rule {rule['record']} reads unknown metrics {unknown}"


def test_recording_rule_names_follow_level_metric_operations() -> None:
    for name in RECORDED:
        level, metric, operations = name.split(":")
        assert level in {"service", "service_route"}, name
        assert metric, name
        assert operations, name


def test_the_generator_is_deterministic() -> None:
    assert dashboard() == dashboard()
    assert json.loads(render()) == dashboard()


def timeseries_panels(board: dict[str, Any]) -> list[dict[str, Any]]:
    return [panel for panel in board["panels"] if panel["type"] == "timeseries"]


def test_the_row_colours_are_the_report_charts_colours() -> None:
    colours = row_colours()
    assert list(colours) == [row.name for row in ROWS]
    assert len(set(colours.values())) == min(len(ROWS), len(PALETTE))
    tab20 = [to_hex(matplotlib.colormaps["tab20"](i)) for i in range(20)]
    assert list(PALETTE) == tab20[0::2] + tab20[1::2]
    assert tab20[0::2] == [to_hex(matplotlib.colormaps["tab10"](i)) for i in range(10)]
    assert list(colours.values()) == [PALETTE[i % len(PALETTE)] for i in range(len(ROWS))]
    assert colours == charts.ROW_COLOURS


def test_every_time_series_panel_gives_every_row_its_colour(board: dict[str, Any]) -> None:
    colours = row_colours()
    for panel in timeseries_panels(board):
        fixed = {}
        for override in panel["fieldConfig"]["overrides"]:
            for prop in override["properties"]:
                if prop["id"] == "color":
                    fixed[override["matcher"]["options"]] = prop["value"]["fixedColor"]
        assert fixed == {series_of_row(name): colour for name, colour in colours.items()}, panel[
            "title"
        ]


@pytest.mark.parametrize(
    "legend",
    ["{{service}}", "{{service}} capacity", "{{service}} slots", "{{service}} k6 p95"],
)
def test_a_rows_capacity_and_slot_lines_take_its_colour(legend: str) -> None:
    """The regex (JavaScript in Grafana, the same for this syntax) matches exactly its own row."""
    for name in row_colours():
        series = legend.replace("{{service}}", name)
        matching = [other for other in row_colours() if re.search(series_of_row(other), series)]
        assert matching == [name], series


def test_dashed_overrides_change_the_line_not_the_colour(board: dict[str, Any]) -> None:
    for panel in timeseries_panels(board):
        for override in panel["fieldConfig"]["overrides"]:
            props = {prop["id"] for prop in override["properties"]}
            if "custom.lineStyle" in props:
                assert "color" not in props, panel["title"]


def test_service_is_the_first_column_of_the_tables(board: dict[str, Any]) -> None:
    tables = [panel for panel in board["panels"] if panel["type"] == "table"]
    assert len(tables) == 2
    for table in tables:
        (organize,) = [t for t in table["transformations"] if t["id"] == "organize"]
        order = organize["options"]["indexByName"]
        assert order["service"] == 0 == min(order.values()), table["title"]
        cell_colours = [
            o for o in table["fieldConfig"]["overrides"] if o["matcher"]["options"] == "service"
        ]
        assert cell_colours, f"{table['title']}: the service column is not in row colours"


def test_k6_panels_do_not_rate_k6_series_directly(board: dict[str, Any]) -> None:
    """A bare rate() is empty for a series with one sample (the seed demo): use bench.k6_promql."""
    for title, expr in panel_queries(board):
        assert not re.search(r"\brate\(k6_", expr), f"panel {title!r}: {expr}"
        if "k6_" in expr and "k6_vus" not in expr:
            # bench.k6_promql's fallbacks: a counter's last value, a histogram's run so far.
            fallback = "last_over_time(" in expr or " or histogram_quantile(" in expr
            assert fallback, f"panel {title!r} has no sparse-run fallback: {expr}"


def test_the_runs_table_names_every_query_column(board: dict[str, Any]) -> None:
    (table,) = [p for p in board["panels"] if p["title"].startswith("k6 runs")]
    (organize,) = [t for t in table["transformations"] if t["id"] == "organize"]
    renamed = organize["options"]["renameByName"]
    assert set(renamed) == {f"Value #{query['refId']}" for query in table["targets"]}
    assert list(renamed.values()) == ["requests", "failed", "dropped", "p50", "p95", "p99"]
    assert all(query["instant"] for query in table["targets"])


def test_k6_panels_add_the_instances_of_a_split_run_up(board: dict[str, Any]) -> None:
    """`bench loadtest --instances N` and k6-operator push one series per instance_id.

    Every k6 query must aggregate to service (or testid and service), never
    keep or split by the instance: a panel shows the whole run.
    """
    for title, expr in panel_queries(board):
        if "k6_" not in expr:
            continue
        assert "instance" not in expr, f"panel {title!r}: {expr}"
        groupings = re.findall(r"\bsum by \(([^)]*)\)", expr)
        assert groupings, f"panel {title!r} does not sum its k6 series: {expr}"
        for grouping in groupings:
            labels = {label.strip() for label in grouping.split(",")}
            assert labels <= {"service", "testid"}, f"panel {title!r}: by ({grouping})"
