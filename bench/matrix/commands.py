"""`bench matrix` (run the benchmark, write the report) and `bench report RUN` (re-render it)."""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sys
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tqdm import tqdm

from bench.atomic import UnwritableDirectoryError, ensure_writable_directory
from bench.cores import CoreSplit, split_cores
from bench.k6 import K6NotFoundError, checked_k6
from bench.matrix.environment import describe_environment, machine_state
from bench.matrix.profiles import PROFILES
from bench.matrix.records import RESULTS_FILE, RunDataError
from bench.matrix.report import render_report
from bench.matrix.run import Interrupted, Matrix, MatrixPlan, RunLog
from bench.matrix.speed import running_speed_probe
from bench.matrix.stacks import (
    DOCKER_PROMETHEUS_URL,
    Stack,
    StackUnavailableError,
    docker_stack,
    native_stack,
)
from bench.matrix.workloads import WORKLOADS, get_workload
from bench.paths import results_dir
from bench.prometheus import PrometheusNotFoundError, find_prometheus
from services.rows import ROWS, get_row

EXIT_INTERRUPTED = 130


class UsageError(ValueError):
    """Arguments the matrix cannot run with."""


def _rates(text: str) -> tuple[float, ...]:
    try:
        rates = tuple(float(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: rates are numbers, e.g. 10,30") from None
    if not rates or any(rate <= 0 for rate in rates):
        raise argparse.ArgumentTypeError(f"{text!r}: give one or more positive rates")
    return rates


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    matrix = subparsers.add_parser(
        "matrix",
        help="run rows x workloads x offered load, find each knee, write a report",
        description=(
            "Run the benchmark matrix and write results/<run-id>/ (results.json, report.md, "
            "charts). Ctrl-C stops it and still writes a report of the finished steps."
        ),
    )
    matrix.add_argument("--profile", choices=sorted(PROFILES), default="quick")
    matrix.add_argument("--rows", nargs="+", default=[r.name for r in ROWS], metavar="ROW")
    matrix.add_argument(
        "--workloads",
        nargs="+",
        default=[w.name for w in WORKLOADS],
        metavar="WORKLOAD",
        help=f"any of: {', '.join(w.name for w in WORKLOADS)}",
    )
    matrix.add_argument(
        "--rates",
        type=_rates,
        default=(),
        help="run exactly these offered rates (requests/s, comma separated) instead of the search",
    )
    matrix.add_argument("--step-seconds", type=float, help="override the profile's step length")
    matrix.add_argument(
        "--repeats",
        type=int,
        help="rounds: visits of every row, each in a new order (override the profile's)",
    )
    matrix.add_argument(
        "--control",
        metavar="ROW",
        help="A/A control: also measure a second, identical copy of ROW as ROW-control",
    )
    matrix.add_argument("--seed", type=int, help="order of rows and workloads (default: random)")
    matrix.add_argument("--stack", choices=("native", "docker"), default="native")
    matrix.add_argument(
        "--prometheus-url",
        default=DOCKER_PROMETHEUS_URL,
        help=f"--stack docker: the compose stack's Prometheus (default {DOCKER_PROMETHEUS_URL})",
    )
    matrix.add_argument("--workers", type=int, help="BENCH_WORKERS for every row (native)")
    matrix.add_argument("--threads", type=int, help="BENCH_THREADS for gthread rows (native)")
    matrix.add_argument(
        "--db-pool", type=int, help="BENCH_DB_POOL: connections per pool, every row (native)"
    )
    matrix.add_argument("--run-id", help="name of the run directory (default: time and profile)")
    matrix.add_argument(
        "--k6-instances",
        type=int,
        default=1,
        help="k6 processes per step, on the load cores, split as k6-operator splits a run "
        "(docs/loadtests.md, several k6 instances)",
    )
    matrix.set_defaults(handler=run_matrix)

    report = subparsers.add_parser(
        "report",
        help="re-render a matrix run's report from its recorded data",
        description="Recompute results.json's figures, report.md and the charts of a run.",
    )
    report.add_argument(
        "run", nargs="?", help="run id under results/, or a run directory (default: the latest)"
    )
    report.set_defaults(handler=run_report)


def _plan(args: argparse.Namespace) -> MatrixPlan:
    profile = PROFILES[args.profile].with_overrides(args.step_seconds, args.repeats)
    if profile.step_seconds < 1 or profile.repeats < 1:
        # k6 refuses scenarios shorter than a second.
        raise UsageError("--step-seconds must be at least 1 and --repeats at least 1")
    control = get_row(args.control).name if args.control else None
    # The control's original is measured too, whether or not --rows named it.
    named = [get_row(name).name for name in args.rows]
    rows = tuple(dict.fromkeys([*named, control] if control else named))
    workloads = tuple(dict.fromkeys(get_workload(name) for name in args.workloads))
    knobs = {
        name: value
        for name in ("workers", "threads", "db_pool")
        if (value := getattr(args, name)) is not None
    }
    if any(value < 1 for value in knobs.values()):
        raise UsageError("--workers, --threads and --db-pool must be at least 1")
    if knobs and args.stack == "docker":
        raise UsageError(
            "--workers/--threads/--db-pool apply to the native stack; set them in .env for docker"
        )
    if control and args.stack == "docker":
        raise UsageError("--control needs the native stack: compose runs one copy of each row")
    if args.k6_instances < 1:
        raise UsageError("--k6-instances must be at least 1")
    plan = MatrixPlan(
        run_id=args.run_id or f"{datetime.now(UTC):%Y%m%d-%H%M%S}-{profile.name}",
        profile=profile,
        rows=rows,
        workloads=workloads,
        fixed_rates=args.rates,
        seed=args.seed if args.seed is not None else random.SystemRandom().randrange(10**6),
        stack=args.stack,
        knobs=knobs,
        prometheus_url=args.prometheus_url if args.stack == "docker" else None,
        control=control,
        k6_instances=args.k6_instances,
    )
    if plan.pairs() == 0:
        raise UsageError("no row serves any of these workloads")
    if "/" in plan.run_id or plan.run_id in {"", ".", ".."}:
        raise UsageError(f"--run-id {plan.run_id!r} must be a plain directory name")
    return plan


def _preflight(plan: MatrixPlan) -> tuple[str, Stack | None]:
    """Everything that can fail before a run directory exists: k6, Prometheus, the docker stack."""
    _, k6_version = checked_k6()
    if plan.stack == "docker":
        return k6_version, docker_stack(plan.prometheus_url or DOCKER_PROMETHEUS_URL)
    find_prometheus()
    return k6_version, None


def _run(plan: MatrixPlan, log: RunLog, opened: Stack, cores: CoreSplit) -> int:
    """The matrix itself; whatever stops it, the finished steps stay recorded."""
    print(
        f"bench matrix: {plan.pairs()} row x workload pairs, profile {plan.profile.name}, "
        f"{cores.describe()}; writing {log.run_dir}",
        file=sys.stderr,
    )
    progress = tqdm(total=plan.profile.estimated_steps(plan.pairs()), unit="step")
    service_cores = len(cores.services) if cores.services else len(log.environment["usable_cores"])
    try:
        Matrix(plan, opened, log, cores, progress, service_cores).run()
        log.complete = True
        return 0
    except (Interrupted, KeyboardInterrupt):
        log.stopped_because = "interrupted (Ctrl-C)"
        return EXIT_INTERRUPTED
    except SystemExit as exit_:
        log.stopped_because = "terminated"
        return exit_.code if isinstance(exit_.code, int) else 1
    except (StackUnavailableError, RuntimeError) as error:
        log.stopped_because = f"failed: {str(error).splitlines()[0]}"
        print(f"\nbench matrix: {error}", file=sys.stderr)
        return 1
    finally:
        progress.close()
        log.ended_at = datetime.now(UTC).isoformat(timespec="seconds")
        log.environment["after"] = machine_state()
        log.save()


def run_matrix(args: argparse.Namespace) -> int:
    try:
        plan = _plan(args)
        # Before any stack starts or request is sent: the run must be able to keep its results.
        ensure_writable_directory(results_dir())
        k6_version, opened = _preflight(plan)
    except (
        ValueError,
        K6NotFoundError,
        PrometheusNotFoundError,
        StackUnavailableError,
        UnwritableDirectoryError,
    ) as error:
        print(f"bench matrix: {error}", file=sys.stderr)
        return 2
    run_dir = results_dir() / plan.run_id
    if run_dir.exists():
        print(f"bench matrix: {run_dir} exists; choose another --run-id", file=sys.stderr)
        return 2
    cores = split_cores() if plan.stack == "native" else CoreSplit(None, None)
    usable = os.sched_getaffinity(0)
    if cores.load is not None:
        # The harness itself (settling, Prometheus queries) stays off the service cores.
        os.sched_setaffinity(0, cores.load)
    run_dir.mkdir(parents=True)
    with ExitStack() as stack:
        if opened is None:
            try:
                opened = stack.enter_context(
                    native_stack(
                        list(plan.entries()),
                        run_dir,
                        cores,
                        plan.knobs,
                        database=any(workload.needs_database for workload in plan.workloads),
                    )
                )
            except (RuntimeError, KeyboardInterrupt) as error:
                # Nothing was measured: leave no run directory behind.
                stack.close()
                shutil.rmtree(run_dir, ignore_errors=True)
                why = "interrupted" if isinstance(error, KeyboardInterrupt) else str(error)
                print(f"bench matrix: the stack did not start: {why}", file=sys.stderr)
                return EXIT_INTERRUPTED if isinstance(error, KeyboardInterrupt) else 1
        stack.enter_context(running_speed_probe(run_dir, cores.services))
        environment = describe_environment(cores, k6_version, opened.prometheus_binary, plan.stack)
        log = RunLog(run_dir, plan, environment)
        log.save()
        status = _run(plan, log, opened, cores)
    os.sched_setaffinity(0, usable)  # the run is over: the report may use every core
    report = render_report(run_dir)
    finished = sum(1 for step in log.steps if step.failure is None)
    covered = "" if log.complete else f" (covers the {finished} finished steps)"
    print(f"report: {report}{covered}")
    return status


def latest_run() -> Path:
    runs = [path.parent for path in results_dir().glob(f"*/{RESULTS_FILE}")]
    if not runs:
        raise RunDataError(f"no matrix run under {results_dir()}: run `make bench` first")
    return max(runs, key=lambda run: (run / RESULTS_FILE).stat().st_mtime)


def run_report(args: argparse.Namespace) -> int:
    try:
        if args.run is None:
            run_dir = latest_run()
        else:
            candidate = Path(args.run)
            run_dir = candidate if candidate.is_dir() else results_dir() / args.run
        report = render_report(run_dir)
    except RunDataError as error:
        print(f"bench report: {error}", file=sys.stderr)
        return 2
    print(f"report: {report}")
    return 0
