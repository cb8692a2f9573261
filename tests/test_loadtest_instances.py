"""`bench loadtest --instances 2`: two real k6 processes split one arrival-rate run.

Against a real row on 127.0.0.1 and a real Prometheus: together the two
instances offer the configured rate (within 2%), each offers its half, the
merged summary's counts are the sums of the instances', and Prometheus holds
both instances' series under the one testid, which the dashboard's k6 runs
table adds up.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bench.dashboards import DASHBOARD_PATH
from bench.loadtest.runner import K6Run, run_k6
from bench.loadtest.segments import INSTANCE_TAG
from bench.paths import LOADTESTS_DIR
from bench.procs import running_row
from bench.prometheus import PrometheusClient, running_prometheus
from tests.grafana_emulation import TimeRange, interpolate
from tests.test_loadtest import SCALED

pytestmark = pytest.mark.live

RATE = 100  # arrivals per second, both instances together
SECONDS = 5
INSTANCES = 2
# Two usable cores, one per instance (the machine's, whichever they are).
K6_CPUS = ",".join(str(core) for core in sorted(os.sched_getaffinity(0))[:INSTANCES])


@dataclass(frozen=True)
class SplitRun:
    run_dir: Path
    params: dict[str, Any]
    merged: dict[str, Any]
    instances: list[dict[str, Any]]
    prometheus: PrometheusClient
    started: float
    ended: float
    output: str
    row_url: str
    workdir: Path


def read_json(path: Path) -> Any:
    return json.loads(path.read_text())


def count(summary: dict[str, Any], metric: str) -> float:
    values = summary["metrics"].get(metric, {"values": {"count": 0}})["values"]
    return float(values["count"])


@pytest.fixture(scope="module")
def split_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SplitRun]:
    workdir = tmp_path_factory.mktemp("split")
    config = workdir / "prometheus.yml"
    config.write_text("global:\n  scrape_interval: 15s\nscrape_configs: []\n")
    with (
        running_row("fastapi-async", workdir / "row") as row,
        running_prometheus(config, workdir) as prometheus,
    ):
        started = time.time()
        result = subprocess.run(
            [
                sys.executable, "-m", "bench", "loadtest", "--scenario", "soak",
                "--target", "fastapi-async", "--url", row.base_url, "--endpoint", "/io?ms=10",
                "--rate", str(RATE), "--set", f"SOAK_SECONDS={SECONDS}",
                "--instances", str(INSTANCES), "--k6-cpus", K6_CPUS,
                "--prometheus-url", prometheus.base_url, "--results-dir", str(workdir / "results"),
            ],
            capture_output=True, text=True, timeout=90, check=False,
        )  # fmt: skip
        ended = time.time()
        assert result.returncode == 0, result.stdout + result.stderr
        [run_dir] = list((workdir / "results").iterdir())
        params = read_json(run_dir / "params.json")
        [record] = params["rows"]
        yield SplitRun(
            run_dir=run_dir,
            params=params,
            merged=read_json(run_dir / record["summary"]),
            instances=[read_json(run_dir / i["summary"]) for i in record["instances"]],
            prometheus=prometheus,
            started=started,
            ended=ended,
            output=result.stdout,
            row_url=row.base_url,
            workdir=workdir,
        )


def test_together_the_instances_offer_the_configured_rate(split_run: SplitRun) -> None:
    expected = RATE * SECONDS
    offered = count(split_run.merged, "iterations") + count(split_run.merged, "dropped_iterations")
    assert abs(offered - expected) <= 0.02 * expected, offered
    for instance in split_run.instances:
        share = count(instance, "iterations") + count(instance, "dropped_iterations")
        assert abs(share - expected / INSTANCES) <= 0.02 * expected / INSTANCES, share


def test_the_merged_counts_are_the_sums_of_the_instances(split_run: SplitRun) -> None:
    for metric in ("http_reqs", "iterations", "data_sent", "data_received"):
        total = sum(count(instance, metric) for instance in split_run.instances)
        assert count(split_run.merged, metric) == total, metric
    durations = [i["metrics"]["http_req_duration"]["values"] for i in split_run.instances]
    merged = split_run.merged["metrics"]["http_req_duration"]["values"]
    assert merged["count"] == sum(d["count"] for d in durations)
    # The merged median lies between the instances' (it is no average of them).
    assert min(d["med"] for d in durations) <= merged["med"] <= max(d["med"] for d in durations)
    assert split_run.merged["merged"]["instances"] == INSTANCES
    assert "2 k6 instances, merged" in split_run.output


def test_each_instance_ran_its_own_segment_on_its_own_cores(split_run: SplitRun) -> None:
    [record] = split_run.params["rows"]
    assert split_run.params["instances"] == INSTANCES
    segments = [
        (i["execution_segment"], i["execution_segment_sequence"]) for i in record["instances"]
    ]
    assert segments == [("0:1/2", "0,1/2,1"), ("1/2:1", "0,1/2,1")]
    cpus = [set(i["cpus"]) for i in record["instances"]]
    assert [sorted(c) for c in cpus] == [[int(core)] for core in K6_CPUS.split(",")]
    # Side by side, yet no fight over k6's REST API port.
    for instance in record["instances"]:
        log = (split_run.run_dir / instance["summary"]).with_name("k6.log").read_text()
        assert "Error from API server" not in log, log


def test_prometheus_holds_both_instances_under_the_one_testid(split_run: SplitRun) -> None:
    testid = split_run.params["testid"]
    series = split_run.prometheus.series(f'k6_http_reqs_total{{testid="{testid}"}}')
    assert {s[INSTANCE_TAG] for s in series} == {"1", "2"}
    assert {s["service"] for s in series} == {"fastapi-async"}
    span = f"{round(split_run.ended - split_run.started) + 10}s"
    iterations = f'k6_iterations_total{{testid="{testid}"}}'
    per_instance = split_run.prometheus.query(
        f"sum by ({INSTANCE_TAG}) (last_over_time({iterations}[{span}]))", time=time.time()
    )
    pushed = {line["metric"][INSTANCE_TAG]: float(line["value"][1]) for line in per_instance}
    assert pushed == {
        str(i + 1): count(instance, "iterations") for i, instance in enumerate(split_run.instances)
    }


def test_the_dashboards_runs_table_adds_the_instances_up(split_run: SplitRun) -> None:
    board = json.loads(DASHBOARD_PATH.read_text())
    (table,) = [p for p in board["panels"] if p["title"].startswith("k6 runs")]
    names = table["transformations"][1]["options"]["renameByName"]
    time_range = TimeRange(split_run.started - 5, split_run.ended + 5)
    values = {"testid": split_run.params["testid"], "service": "fastapi-async"}
    columns = {}
    for query in table["targets"]:
        (line,) = split_run.prometheus.query(
            interpolate(query["expr"], values, time_range), time=time_range.end
        )
        columns[names[f"Value #{query['refId']}"]] = float(line["value"][1])
    # Each instance's setup() health check is not load: the table leaves it out.
    assert columns["requests"] == count(split_run.merged, "http_reqs") - INSTANCES
    assert columns["failed"] == columns["dropped"] == 0
    # Both instances' histograms, summed at the last step where all of them
    # still answer; native-histogram buckets are ~9% wide.
    merged_p50_s = split_run.merged["metrics"]["http_req_duration"]["values"]["med"] / 1000
    assert abs(columns["p50"] - merged_p50_s) <= 0.2 * merged_p50_s, columns
    assert columns["p50"] <= columns["p95"] <= columns["p99"]


def staggered_instance(split_run: SplitRun, index: int, endpoint: str, testid: str) -> K6Run:
    return K6Run(
        script=LOADTESTS_DIR / "soak.js",
        env={"BASE_URL": split_run.row_url, "ENDPOINT": endpoint, "SERVICE": "fastapi-async",
             "RATE": "50", "SOAK_SECONDS": "4"},
        run_dir=split_run.workdir / testid / f"instance-{index}",
        testid=testid,
        prometheus_url=split_run.prometheus.base_url,
        tags={"service": "fastapi-async", INSTANCE_TAG: str(index)},
    )  # fmt: skip


def test_the_runs_tables_quantiles_hold_instances_that_ended_apart(split_run: SplitRun) -> None:
    """Instance 1 slow and ending 1.5 s before instance 2, which is fast.

    Each instance's series end with it (stale markers); the whole-run
    quantile must still sum both, not show the one that ended last.
    """
    testid = f"staggered-{int(time.time())}"
    slow = staggered_instance(split_run, 1, "/io?ms=60", testid)
    fast = staggered_instance(split_run, 2, "/io?ms=1", testid)
    started = time.time()
    with ThreadPoolExecutor(max_workers=2) as pool:
        first = pool.submit(run_k6, slow, timeout_s=60)
        time.sleep(1.5)
        second = pool.submit(run_k6, fast, timeout_s=60)
        results = [first.result(), second.result()]
    assert [r.exit_code for r in results] == [0, 0], [r.stdout_summary() for r in results]
    board = json.loads(DASHBOARD_PATH.read_text())
    (table,) = [p for p in board["panels"] if p["title"].startswith("k6 runs")]
    names = table["transformations"][1]["options"]["renameByName"]
    [p95] = [q for q in table["targets"] if names[f"Value #{q['refId']}"] == "p95"]
    time_range = TimeRange(started - 5, time.time() + 5)
    values = {"testid": testid, "service": "fastapi-async"}
    (line,) = split_run.prometheus.query(
        interpolate(p95["expr"], values, time_range), time=time_range.end
    )
    # A third of the requests took 60 ms: the run's p95 is among them.
    assert float(line["value"][1]) >= 0.05, line
    # The control: the quantile at the last step alone sees only the fast instance.
    selector = f'k6_http_req_duration_seconds{{testid="{testid}", group!="::setup"}}'
    last_step = (
        f"last_over_time((histogram_quantile(0.95, sum by (testid) ({selector})))"
        f"[{time_range.seconds}s:1s])"
    )
    (control,) = split_run.prometheus.query(last_step, time=time_range.end)
    assert float(control["value"][1]) < 0.05, control


def instances_pushing(split_run: SplitRun, since: float) -> int:
    """How many instances of a run other than the module's own push k6_vus now."""
    series = split_run.prometheus.series('k6_vus{scenario_name="soak"}', start=since)
    by_run: dict[str, set[str]] = {}
    for labels in series:
        if labels["testid"] != split_run.params["testid"]:
            by_run.setdefault(labels["testid"], set()).add(labels[INSTANCE_TAG])
    return max((len(found) for found in by_run.values()), default=0)


def test_interrupt_stops_every_instance_and_merges_what_ran(split_run: SplitRun) -> None:
    results = split_run.workdir / "interrupted"
    process = subprocess.Popen(
        [
            sys.executable, "-m", "bench", "loadtest", "--scenario", "soak",
            "--target", "fastapi-async", "--url", split_run.row_url, "--rate", "20",
            "--set", "SOAK_SECONDS=60", "--instances", str(INSTANCES),
            "--results-dir", str(results), "--prometheus-url", split_run.prometheus.base_url,
        ],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        # Interrupted before its test starts, a k6 writes no summary: wait until
        # both push (this run's testid is the one the module has not seen).
        started = time.time()
        deadline = time.monotonic() + 60
        while instances_pushing(split_run, since=started) < INSTANCES:
            assert time.monotonic() < deadline, "the k6 instances did not start"
            time.sleep(0.5)
        time.sleep(2)  # let some requests complete
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 130, output
    [run_dir] = list(results.iterdir())
    params = read_json(run_dir / "params.json")
    [record] = params["rows"]
    assert params["partial"] is True
    assert [i["partial"] for i in record["instances"]] == [True] * INSTANCES
    instances = [read_json(run_dir / i["summary"]) for i in record["instances"]]
    merged = read_json(run_dir / record["summary"])
    assert count(merged, "iterations") == sum(count(i, "iterations") for i in instances) > 0


@pytest.mark.parametrize("scenario", list(SCALED))
def test_every_scenario_splits_and_merges(
    scenario: str, split_run: SplitRun, tmp_path: Path
) -> None:
    """Each script's own metrics (three-users' per-user trends too) survive the merge."""
    result = subprocess.run(
        [
            sys.executable, "-m", "bench", "loadtest", "--scenario", scenario,
            "--target", "fastapi-async", "--url", split_run.row_url,
            "--results-dir", str(tmp_path), "--no-push", "--instances", str(INSTANCES),
            *SCALED[scenario],
        ],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    [run_dir] = list(tmp_path.iterdir())
    [record] = read_json(run_dir / "params.json")["rows"]
    instances = [read_json(run_dir / i["summary"]) for i in record["instances"]]
    merged = read_json(run_dir / record["summary"])
    names = set().union(*(i["metrics"] for i in instances))
    assert set(merged["metrics"]) == names
    for name, metric in merged["metrics"].items():
        if metric["type"] == "counter":
            total = sum(count(i, name) for i in instances)
            assert metric["values"]["count"] == total, name
