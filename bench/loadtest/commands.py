"""`bench loadtest`: run a k6 scenario against one row or all of them."""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from bench.atomic import UnwritableDirectoryError, ensure_writable_directory, write_json_atomically
from bench.k6 import K6NotFoundError, checked_k6
from bench.loadtest.runner import EXIT_THRESHOLDS_FAILED, K6Result, K6Run, run_k6
from bench.loadtest.scenarios import (
    SCENARIOS,
    LoadtestUsageError,
    Scenario,
    endpoint_for,
    get_scenario,
    resolve_targets,
)
from bench.paths import results_dir
from bench.stack.docker import docker_engine
from services.rows import ROWS_BY_NAME, Row

DEFAULT_PROMETHEUS_URL = "http://127.0.0.1:9090"
PARAMS_FILE = "params.json"


@dataclass(frozen=True)
class Target:
    row: Row
    base_url: str
    endpoint: str


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    parser = subparsers.add_parser(
        "loadtest",
        help="run a k6 scenario against the running stack",
        description="Run a k6 scenario against one row or all rows of the running stack. "
        "Results go to results/<run-id>/ (see docs/loadtests.md).",
    )
    parser.add_argument("--scenario", default="three-users", help=", ".join(SCENARIOS))
    parser.add_argument("--target", default="all", help="a row name or 'all'")
    parser.add_argument("--endpoint", help="path and query, e.g. '/io?ms=100'")
    parser.add_argument("--url", help="base URL of the row (single row only; default: its port)")
    parser.add_argument("--duration-scale", type=float, help="multiply every duration (e.g. 0.1)")
    parser.add_argument("--vus", type=int, help="ramp: VUs at the last step")
    parser.add_argument("--rate", type=int, help="arrival/spike/soak: requests per second")
    parser.add_argument("--users", type=int, help="three-users: how many users (default 3)")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="any other script knob, e.g. --set STEPS=6 (docs/loadtests.md)",
    )
    parser.add_argument(
        "--prometheus-url",
        default=os.environ.get("BENCH_PROMETHEUS_URL", DEFAULT_PROMETHEUS_URL),
        help="push k6 metrics here by remote write when it answers",
    )
    parser.add_argument("--no-push", action="store_true", help="never push to Prometheus")
    parser.add_argument("--results-dir", type=Path, help="default: results/ (BENCH_RESULTS_DIR)")
    parser.set_defaults(handler=run)


def script_env(args: argparse.Namespace) -> dict[str, str]:
    env: dict[str, str] = {}
    for flag, name in (
        ("duration_scale", "DURATION_SCALE"),
        ("vus", "VUS"),
        ("rate", "RATE"),
        ("users", "USERS"),
    ):
        value = getattr(args, flag)
        if value is not None:
            if value <= 0:
                raise LoadtestUsageError(f"--{flag.replace('_', '-')} must be positive")
            env[name] = str(value)
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep or not key.isupper():
            raise LoadtestUsageError(f"--set {item!r}: expected KEY=VALUE with an upper-case KEY")
        env[key] = value
    return env


def resolve(args: argparse.Namespace, scenario: Scenario) -> list[Target]:
    rows = resolve_targets(args.target)
    if args.url and len(rows) != 1:
        raise LoadtestUsageError("--url needs a single --target row, not 'all'")
    offset = int(os.environ.get("BENCH_PORT_OFFSET", "0") or 0)
    targets = []
    for row in rows:
        endpoint = endpoint_for(row, scenario, args.endpoint)
        if endpoint is None:
            print(f"skipping {row.name}: it does not serve {args.endpoint}", file=sys.stderr)
            continue
        base_url = (args.url or f"http://127.0.0.1:{row.port + offset}").rstrip("/")
        targets.append(Target(row, base_url, endpoint))
    if not targets:
        raise LoadtestUsageError(f"no row of {args.target!r} serves {args.endpoint}")
    return targets


def not_answering(targets: list[Target]) -> list[str]:
    down = []
    for target in targets:
        try:
            ok = httpx.get(f"{target.base_url}/health", timeout=3.0).status_code == 200
        except httpx.TransportError:
            ok = False
        if not ok:
            down.append(f"{target.row.name} at {target.base_url}")
    return down


def prometheus_if_up(args: argparse.Namespace) -> str | None:
    if args.no_push:
        print("not pushing k6 metrics to Prometheus (--no-push)")
        return None
    url = str(args.prometheus_url).rstrip("/")
    try:
        ready = httpx.get(f"{url}/-/ready", timeout=2.0).status_code == 200
    except httpx.TransportError:
        ready = False
    if not ready:
        print(f"Prometheus does not answer at {url}: not pushing k6 metrics (the run still works)")
        return None
    return url


def write_params(run_dir: Path, params: dict[str, Any]) -> None:
    path = run_dir / PARAMS_FILE
    write_json_atomically(path, params)


def row_record(target: Target, result: K6Result) -> dict[str, Any]:
    return {
        "row": target.row.name,
        "base_url": target.base_url,
        "endpoint": target.endpoint,
        "exit_code": result.exit_code,
        "thresholds_passed": result.thresholds_passed,
        "partial": result.partial,
        "started_at": result.started_at,
        "ended_at": result.ended_at,
        "summary": str(result.summary_path.relative_to(result.summary_path.parents[1])),
    }


def run(args: argparse.Namespace) -> int:
    try:
        scenario = get_scenario(args.scenario)
        env = script_env(args)
        targets = resolve(args, scenario)
        # Before any request: a run that cannot keep its results must not run.
        ensure_writable_directory(args.results_dir or results_dir())
    except (LoadtestUsageError, UnwritableDirectoryError) as error:
        print(f"bench loadtest: {error}", file=sys.stderr)
        return 2
    try:
        checked_k6()
    except K6NotFoundError as error:
        if not docker_engine().reachable:
            print(f"bench loadtest: {error}", file=sys.stderr)
            return 1
        print(f"no local k6 ({error}); using the compose stack's k6 container")
    down = not_answering(targets)
    if down:
        print(
            "bench loadtest: not answering: " + "; ".join(down) + ".\n"
            "Is the stack running? Start it with `make up` (or `make run-native`).",
            file=sys.stderr,
        )
        return 1
    return execute(args, scenario, env, targets)


def execute(
    args: argparse.Namespace, scenario: Scenario, env: dict[str, str], targets: list[Target]
) -> int:
    prometheus_url = prometheus_if_up(args)
    started = datetime.now(UTC)
    target_name = args.target if args.target in {"all", *ROWS_BY_NAME} else "custom"
    run_id = f"{started:%Y%m%d-%H%M%S}-{scenario.name}-{target_name}"
    run_dir = (args.results_dir or results_dir()) / run_id
    run_dir.mkdir(parents=True)
    scale = float(env.get("DURATION_SCALE", "1"))
    params: dict[str, Any] = {
        "run_id": run_id,
        "testid": run_id,
        "scenario": scenario.name,
        "target": args.target,
        "endpoint": args.endpoint,
        "knobs": env,
        "duration_scale": scale,
        "prometheus_url": prometheus_url,
        "pushed_to_prometheus": prometheus_url is not None,
        "k6_version": None,
        "started_at": started.isoformat(timespec="milliseconds"),
        "ended_at": None,
        "partial": False,
        "rows": [],
    }
    if prometheus_url:
        print(f"pushing k6 metrics to {prometheus_url} with testid={run_id}")
    worst = 0
    try:
        for target in targets:
            print(f"{scenario.name}: {target.row.name} {target.base_url}{target.endpoint}")
            result = run_k6(
                K6Run(
                    script=scenario.script,
                    env={
                        **env,
                        "BASE_URL": target.base_url,
                        "ENDPOINT": target.endpoint,
                        "SERVICE": target.row.name,
                    },
                    run_dir=run_dir / target.row.name,
                    testid=run_id,
                    prometheus_url=prometheus_url,
                    tags={"service": target.row.name, "scenario_name": scenario.name},
                ),
                timeout_s=scenario.timeout_s * max(scale, 0.05) + 60,
            )
            params["k6_version"] = result.k6_version
            params["rows"].append(row_record(target, result))
            print(result.stdout_summary().rstrip())
            worst = max(worst, result.exit_code)
            if result.partial:
                params["partial"] = True
                break
    finally:
        params["ended_at"] = datetime.now(UTC).isoformat(timespec="milliseconds")
        write_params(run_dir, params)
    print(f"results: {run_dir}")
    if params["partial"]:
        print("interrupted: the summary is marked partial")
        return 130
    if worst == EXIT_THRESHOLDS_FAILED:
        print("thresholds failed (see the summary above): the target missed its latency/error SLO")
        return 1
    return 0 if worst == 0 else 1
