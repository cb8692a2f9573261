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

from bench import paths
from bench.atomic import UnwritableDirectoryError, ensure_writable_directory, write_json_atomically
from bench.cores import parse_cpu_list, share_cores, split_cores
from bench.k6 import K6NotFoundError, checked_k6
from bench.loadtest.faults import FaultUsageError, checked_native_row
from bench.loadtest.restart import REQUEST_LOG
from bench.loadtest.restart_run import FAULTS, RESTART_SCENARIO, RestartPlan, run_restart
from bench.loadtest.runner import EXIT_THRESHOLDS_FAILED, K6Run
from bench.loadtest.scenarios import (
    SCENARIOS,
    LoadtestUsageError,
    Scenario,
    endpoint_for,
    get_scenario,
    resolve_targets,
)
from bench.loadtest.split import SplitResult, run_split
from bench.paths import results_dir
from bench.stack.docker import docker_engine
from bench.stack.knobs import knob_values
from services.rows import ROWS_BY_NAME, Row

DEFAULT_PROMETHEUS_URL = "http://127.0.0.1:9090"
DEFAULT_TARGET_HOST = "127.0.0.1"
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
    parser.add_argument(
        "--url",
        help="base URL of the row (single row only; default: its port on BENCH_TARGET_HOST)",
    )
    parser.add_argument("--duration-scale", type=float, help="multiply every duration (e.g. 0.1)")
    parser.add_argument("--vus", type=int, help="ramp: VUs at the last step; throughput: VUs")
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
        default=knob_values().get("BENCH_PROMETHEUS_URL") or DEFAULT_PROMETHEUS_URL,
        help="push k6 metrics here by remote write when it answers "
        "(default: BENCH_PROMETHEUS_URL, in the environment or .env)",
    )
    parser.add_argument("--no-push", action="store_true", help="never push to Prometheus")
    parser.add_argument(
        "--instances",
        type=int,
        default=1,
        help="split the load across N k6 processes, as k6-operator's parallelism does "
        "(execution segments; one testid, an instance_id tag each; summaries merged)",
    )
    parser.add_argument(
        "--k6-cpus",
        metavar="LIST|auto",
        help="pin k6 to these cores (e.g. 2-3), shared out among the instances; "
        "'auto': the load half of bench.cores.split_cores (default: not pinned)",
    )
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


def instance_cpus(args: argparse.Namespace) -> list[frozenset[int]] | None:
    """Each instance's cores, or None (not pinned)."""
    if args.instances < 1:
        raise LoadtestUsageError("--instances must be at least 1")
    if args.k6_cpus is None:
        return None
    if args.k6_cpus == "auto":
        load = split_cores().load
        if load is None:
            print("--k6-cpus auto: fewer than 2 usable cores, k6 is not pinned")
            return None
    else:
        try:
            load = parse_cpu_list(args.k6_cpus)
        except ValueError as error:
            raise LoadtestUsageError(f"--k6-cpus {error}") from None
        usable = os.sched_getaffinity(0)
        if not load <= usable:
            raise LoadtestUsageError(
                f"--k6-cpus {args.k6_cpus}: cores {sorted(load - usable)} are not usable here "
                f"(usable: {sorted(usable)})"
            )
    return share_cores(load, args.instances)


def resolve(args: argparse.Namespace, scenario: Scenario) -> list[Target]:
    rows = resolve_targets(args.target)
    if args.url and len(rows) != 1:
        raise LoadtestUsageError("--url needs a single --target row, not 'all'")
    offset = int(os.environ.get("BENCH_PORT_OFFSET", "0") or 0)
    # The rows' host: this one, or the services host of a multi-host layout.
    host = knob_values().get("BENCH_TARGET_HOST") or DEFAULT_TARGET_HOST
    targets = []
    for row in rows:
        endpoint = endpoint_for(row, scenario, args.endpoint)
        if endpoint is None:
            print(f"skipping {row.name}: it does not serve {args.endpoint}", file=sys.stderr)
            continue
        base_url = (args.url or f"http://{host}:{row.port + offset}").rstrip("/")
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


def row_record(target: Target, result: SplitResult, run_dir: Path) -> dict[str, Any]:
    record = {
        "row": target.row.name,
        "base_url": target.base_url,
        "endpoint": target.endpoint,
        "exit_code": result.exit_code,
        "thresholds_passed": result.thresholds_passed,
        "partial": result.partial,
        "started_at": result.started_at,
        "ended_at": result.ended_at,
        # None: k6 wrote none (killed before its end); "failure" then says why.
        "summary": (
            str(result.summary_path.relative_to(run_dir)) if result.summary_path.is_file() else None
        ),
        "failure": result.failure,
    }
    if len(result.instances) > 1:
        record["instances"] = result.instance_records(run_dir)
        record["missing_instances"] = result.missing
    return record


def check_restart(args: argparse.Namespace, env: dict[str, str], targets: list[Target]) -> None:
    """The restart scenario signals servers it started itself: only rows of the native stack."""
    if args.url:
        raise LoadtestUsageError("--scenario restart signals the stack's own rows: no --url")
    try:
        RestartPlan.from_env(env)
        for target in targets:
            checked_native_row(paths.state_dir().resolve(), target.row.name)
    except (ValueError, FaultUsageError) as error:
        raise LoadtestUsageError(str(error)) from None


def run(args: argparse.Namespace) -> int:
    try:
        scenario = get_scenario(args.scenario)
        env = script_env(args)
        cpus = instance_cpus(args)
        targets = resolve(args, scenario)
        if scenario.name == RESTART_SCENARIO:
            check_restart(args, env, targets)
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
    return execute(args, scenario, env, targets, cpus)


@dataclass(frozen=True)
class RunContext:
    """What every row's k6 run in one `bench loadtest` shares."""

    args: argparse.Namespace
    scenario: Scenario
    env: dict[str, str]
    run_dir: Path
    params: dict[str, Any]
    cpus: list[frozenset[int]] | None


def k6_run_for(context: RunContext, target: Target, fault: str | None = None) -> K6Run:
    """The k6 run for one row (and, in the restart scenario, one fault)."""
    tags = {"service": target.row.name, "scenario_name": context.scenario.name}
    if fault:
        tags["fault"] = fault
    return K6Run(
        script=context.scenario.script,
        env={
            **context.env,
            "BASE_URL": target.base_url,
            "ENDPOINT": target.endpoint,
            "SERVICE": target.row.name,
        },
        run_dir=context.run_dir / target.row.name / (fault or ""),
        testid=context.params["testid"],
        prometheus_url=context.params["prometheus_url"],
        tags=tags,
        request_log=REQUEST_LOG if fault else None,
    )


def _run_each(context: RunContext, targets: list[Target]) -> int:
    """Every row in turn, the whole scenario each; the worst k6 exit code."""
    worst = 0
    scenario, params, instances = context.scenario, context.params, context.args.instances
    for target in targets:
        print(f"{scenario.name}: {target.row.name} {target.base_url}{target.endpoint}")
        result = run_split(
            k6_run_for(context, target),
            instances,
            timeout_s=scenario.timeout_s * max(params["duration_scale"], 0.05) + 60,
            title=f"\n{scenario.name} against {target.row.name} {target.endpoint}, "
            f"{instances} k6 instances, merged",
            cpus=context.cpus,
        )
        params["k6_version"] = result.k6_version
        params["rows"].append(row_record(target, result, context.run_dir))
        print(result.stdout_summary().rstrip())
        if result.failure:
            # Nothing of ours stopped it: say so, and send no more load.
            params["failed"] = f"{target.row.name}: {result.failure}"
            params["partial"] = result.partial
            break
        worst = max(worst, result.exit_code)
        if result.partial:
            params["partial"] = True
            break
    return worst


def _run_restart(context: RunContext, targets: list[Target]) -> int:
    """The restart scenario: every row through SIGTERM, then SIGKILL, under load."""
    plan = RestartPlan.from_env(context.env)
    by_name = {target.row.name: target for target in targets}
    params = context.params

    def run_k6(k6_run: K6Run, title: str) -> SplitResult:
        result = run_split(
            k6_run,
            context.args.instances,
            timeout_s=plan.duration_s + 60,
            title=title,
            cpus=context.cpus,
        )
        params["k6_version"] = result.k6_version
        return result

    print(
        f"restart: {plan.duration_s:g} s of load per run, the signal at {plan.fault_at_s:g} s; "
        f"{len(targets)} rows x {len(FAULTS)} faults"
    )
    outcome = run_restart(
        [(t.row.name, t.base_url) for t in targets],
        lambda row, fault: k6_run_for(context, by_name[row], fault),
        run_k6,
        plan=plan,
        state_dir=paths.state_dir().resolve(),
        run_dir=context.run_dir,
    )
    params["rows"] = outcome.records
    params["partial"] = outcome.partial
    params["failed"] = outcome.failed
    return outcome.worst_exit


def execute(
    args: argparse.Namespace,
    scenario: Scenario,
    env: dict[str, str],
    targets: list[Target],
    cpus: list[frozenset[int]] | None = None,
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
        # Why the run stopped without a whole result (k6 killed, crashed), or None.
        "failed": None,
        "instances": args.instances,
        "rows": [],
    }
    if prometheus_url:
        print(f"pushing k6 metrics to {prometheus_url} with testid={run_id}")
    if args.instances > 1:
        print(f"{args.instances} k6 instances per row, execution segments as k6-operator's")
    context = RunContext(args, scenario, env, run_dir, params, cpus)
    try:
        if scenario.name == RESTART_SCENARIO:
            worst = _run_restart(context, targets)
        else:
            worst = _run_each(context, targets)
    finally:
        params["ended_at"] = datetime.now(UTC).isoformat(timespec="milliseconds")
        write_params(run_dir, params)
    print(f"results: {run_dir}")
    if params["failed"]:
        print(
            f"bench loadtest: {params['failed']}: no whole summary of it; stopped here, "
            f"what finished is kept in {run_dir} (k6's log too)",
            file=sys.stderr,
        )
        return 1
    if params["partial"]:
        print("interrupted: the summary is marked partial")
        return 130
    if worst == EXIT_THRESHOLDS_FAILED:
        print("thresholds failed (see the summary above): the target missed its latency/error SLO")
        return 1
    return 0 if worst == 0 else 1
