"""Run one k6 test and collect its JSON summary; used by `bench loadtest` and the matrix."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

import psutil

from bench.k6 import PINNED_K6_VERSION, K6NotFoundError, checked_k6
from bench.loadtest.segments import Segment
from bench.paths import LOADTESTS_DIR, results_dir
from bench.procs import pin_to
from bench.stack.docker import LOAD_PROFILE, compose_base_argv, docker_engine

SUMMARY_FILE = "summary.json"
# k6 writes its summary under this name; publish_summary renames it to
# SUMMARY_FILE once it is whole, so a k6 killed mid-write leaves no half summary.
K6_SUMMARY_FILE = ".summary.json.k6"
LOG_FILE = "k6.log"
# k6 exits with 105 when a signal stopped the run, 99 when thresholds failed.
EXIT_INTERRUPTED = 105
EXIT_THRESHOLDS_FAILED = 99
# Tags k6 attaches to every sample. `url` is left out on purpose: with query
# strings it would make one Prometheus series per distinct URL.
SYSTEM_TAGS = "status,method,name,group,check,error,error_code,scenario,expected_response"
INTERRUPT_GRACE_S = 30.0
# k6's soft memory limit: a quarter of the machine, at most this.
K6_MEMORY_LIMIT_CAP_BYTES = 4 * 2**30


@dataclass(frozen=True)
class K6Run:
    script: Path
    env: Mapping[str, str]  # passed to the script as -e KEY=VALUE (__ENV)
    run_dir: Path
    testid: str
    prometheus_url: str | None = None  # push by remote write when set
    tags: Mapping[str, str] = field(default_factory=dict)
    cpus: frozenset[int] | None = None  # pin k6 to these cores
    segment: Segment | None = None  # this instance's share of a run split across several
    # --summary-trend-stats: what the summary reports per trend (None: the script's choice)
    trend_stats: tuple[str, ...] | None = None
    # k6's REST API (default localhost:6565): instances side by side need one each.
    api_address: str | None = None
    # Also write every sample to this file in the run directory (k6's JSON output),
    # for figures the summary cannot give: when each request ended, and how.
    request_log: str | None = None


@dataclass(frozen=True)
class K6Result:
    exit_code: int
    summary: dict[str, Any]
    summary_path: Path
    partial: bool
    started_at: str
    ended_at: str
    k6_version: str
    log_path: Path
    stopped_by: str | None = None  # "interrupt" (Ctrl-C), "timeout", or None: it ended
    # Why k6 ended without its result although nothing of ours stopped it
    # (killed, crashed, no summary), or None (see k6_failure).
    failure: str | None = None

    @property
    def thresholds_passed(self) -> bool:
        return self.exit_code == 0

    def stdout_summary(self) -> str:
        """The text summary the script printed (handleSummary's stdout)."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def go_gc_env(environ: Mapping[str, str], total_memory_bytes: int) -> dict[str, str]:
    """k6's Go garbage collector off until a soft memory limit, unless the user set either.

    With hundreds of VUs k6 keeps a live heap of hundreds of MB, and with
    Go's default GOGC=100 each collection of it stalls k6 itself: on the
    2-core VM it added 100-300 ms to the p99 k6 reported at 2500 requests/s
    against a row whose own p99 was 110 ms (docs/bench.md). Under
    GOMEMLIMIT Go collects only when the heap nears the limit.
    """
    if "GOGC" in environ or "GOMEMLIMIT" in environ:
        return {}
    limit = min(K6_MEMORY_LIMIT_CAP_BYTES, total_memory_bytes // 4)
    return {"GOGC": "off", "GOMEMLIMIT": f"{limit // 2**20}MiB"}


def k6_process_env(run: K6Run) -> dict[str, str]:
    """What k6 runs with: Go GC settings and, with a Prometheus, remote write."""
    env = go_gc_env(os.environ, psutil.virtual_memory().total)
    if run.prometheus_url:
        env.update(remote_write_env(run.prometheus_url))
    return env


def remote_write_env(prometheus_url: str) -> dict[str, str]:
    """k6's Prometheus remote-write output: native histograms, pushed every second.

    Stale markers: when the run ends k6 writes a staleness marker for every
    series it pushed, so instant queries (the "k6 virtual users" panel) stop
    at the end of the run instead of repeating its last value for
    Prometheus's 5-minute lookback. Range functions (rate, increase,
    last_over_time) skip the markers and still see the whole run.
    """
    return {
        "K6_PROMETHEUS_RW_SERVER_URL": f"{prometheus_url.rstrip('/')}/api/v1/write",
        "K6_PROMETHEUS_RW_TREND_AS_NATIVE_HISTOGRAM": "true",
        "K6_PROMETHEUS_RW_PUSH_INTERVAL": "1s",
        "K6_PROMETHEUS_RW_STALE_MARKERS": "true",
    }


def k6_argv(
    binary: Path, run: K6Run, summary_path: Path, run_dir: PurePosixPath | Path | None = None
) -> list[str]:
    """k6's command line; ``run_dir`` is where k6 sees the run directory (default: run.run_dir)."""
    argv = [str(binary), "run", "--no-color", "--quiet", f"--system-tags={SYSTEM_TAGS}"]
    if run.trend_stats:
        argv.append(f"--summary-trend-stats={','.join(run.trend_stats)}")
    if run.segment:
        argv += run.segment.k6_flags()
    if run.api_address:
        argv.append(f"--address={run.api_address}")
    for key, value in {"testid": run.testid, **run.tags}.items():
        argv += ["--tag", f"{key}={value}"]
    for key, value in {**run.env, "SUMMARY_PATH": str(summary_path)}.items():
        argv += ["-e", f"{key}={value}"]
    if run.prometheus_url:
        argv += ["-o", "experimental-prometheus-rw"]
    if run.request_log:
        argv += ["-o", f"json={(run_dir or run.run_dir) / run.request_log}"]
    return [*argv, str(run.script)]


def compose_k6_argv(compose: list[str], run: K6Run) -> list[str]:
    """The same k6 run inside the compose stack's k6 container (grafana/k6, host network).

    The container sees ./loadtests at /loadtests and the results directory
    (BENCH_RESULTS_DIR, default ./results) at /results, so the script and the
    run directory must live there.
    """
    results_root = results_dir().resolve()
    try:
        run_dir_inside = PurePosixPath("/results") / run.run_dir.resolve().relative_to(results_root)
        script_inside = PurePosixPath("/loadtests") / run.script.resolve().relative_to(
            LOADTESTS_DIR.resolve()
        )
    except ValueError:
        raise K6NotFoundError(
            f"the k6 container only sees {LOADTESTS_DIR} and {results_root}: "
            "install k6 locally (make install) for other locations"
        ) from None
    inner = k6_argv(
        Path("k6"), run, Path(str(run_dir_inside / K6_SUMMARY_FILE)), run_dir=run_dir_inside
    )
    env_flags: list[str] = []
    for key, value in k6_process_env(run).items():
        env_flags += ["-e", f"{key}={value}"]
    inner[-1] = str(script_inside)
    return [
        *compose,
        "--profile",
        LOAD_PROFILE,
        "run",
        "--rm",
        "--no-deps",
        # As the user who owns the run directory (bench created it just now):
        # the image's own user (uid 12345) may not write there.
        "--user",
        f"{os.getuid()}:{os.getgid()}",
        *env_flags,
        "k6",
        *inner[1:],
    ]


def _k6_command(run: K6Run, summary_path: Path) -> tuple[list[str], str]:
    """Local k6 (PATH or the pinned package), else the compose stack's k6 container."""
    try:
        binary, version = checked_k6()
    except K6NotFoundError:
        if not docker_engine().reachable:
            raise
        return compose_k6_argv(compose_base_argv(), run), PINNED_K6_VERSION
    return k6_argv(binary, run, summary_path), version


@dataclass
class _Started:
    run: K6Run
    process: subprocess.Popen[bytes]
    summary_path: Path
    log_path: Path
    version: str
    started_at: str
    exit_code: int | None = None
    stopped_by: str | None = None


def publish_summary(run_dir: Path) -> dict[str, Any]:
    """k6's summary, renamed to SUMMARY_FILE if whole; {} if k6 wrote none or only part.

    A fragment (k6 killed while writing) stays under K6_SUMMARY_FILE to look at.
    """
    written = run_dir / K6_SUMMARY_FILE
    try:
        summary: dict[str, Any] = json.loads(written.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}
    written.replace(run_dir / SUMMARY_FILE)
    return summary


def _start(run: K6Run) -> _Started:
    run.run_dir.mkdir(parents=True, exist_ok=True)
    summary_path = run.run_dir / SUMMARY_FILE
    log_path = run.run_dir / LOG_FILE
    argv, version = _k6_command(run, run.run_dir / K6_SUMMARY_FILE)
    env = {**os.environ, "K6_NO_USAGE_REPORT": "true", **k6_process_env(run)}
    started_at = _now()
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            # Its own session: a terminal Ctrl-C reaches only us, and we forward
            # exactly one SIGINT (a second one makes k6 abort without a summary).
            start_new_session=True,
            preexec_fn=pin_to(run.cpus),  # noqa: PLW1509 - affinity must be set before k6 starts its threads
        )
    return _Started(run, process, summary_path, log_path, version, started_at)


def _stop_all(started: list[_Started], reason: str) -> None:
    """One SIGINT to every k6 still running, then wait for all: they stop together.

    Exactly one: a second SIGINT makes k6 abort without its summary. Any k6
    still running after the grace period is killed.
    """
    for one in started:
        if one.exit_code is None and one.process.poll() is None:
            one.stopped_by = reason
            one.process.send_signal(signal.SIGINT)
    deadline = time.monotonic() + INTERRUPT_GRACE_S
    for one in started:
        if one.exit_code is not None:
            continue
        try:
            one.exit_code = one.process.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            one.process.kill()
            one.exit_code = one.process.wait()


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def k6_failure(exit_code: int, stopped_by: str | None, summary: Mapping[str, Any]) -> str | None:
    """Why k6 ended without its result, or None: it ended on its own or we stopped it.

    A run we stopped (Ctrl-C, the timeout) is partial, not failed. Thresholds
    that failed (99) and a signal someone else sent k6 (105: it still writes
    its summary) are results too. A k6 killed (SIGKILL, the OOM killer),
    crashed or refused (a script error) is a failure.
    """
    if stopped_by is not None:
        return None
    if exit_code < 0:
        return f"k6 was killed by {_signal_name(-exit_code)}"
    if exit_code not in {0, EXIT_THRESHOLDS_FAILED, EXIT_INTERRUPTED}:
        return f"k6 exited with status {exit_code}"
    if not summary:
        return "k6 wrote no summary"
    return None


def _result(one: _Started) -> K6Result:
    exit_code = one.exit_code if one.exit_code is not None else one.process.wait()
    summary = publish_summary(one.run.run_dir)
    return K6Result(
        exit_code=exit_code,
        summary=summary,
        summary_path=one.summary_path,
        partial=one.stopped_by is not None or exit_code == EXIT_INTERRUPTED,
        started_at=one.started_at,
        ended_at=_now(),
        k6_version=one.version,
        log_path=one.log_path,
        stopped_by=one.stopped_by,
        failure=k6_failure(exit_code, one.stopped_by, summary),
    )


def run_k6_instances(runs: list[K6Run], *, timeout_s: float) -> list[K6Result]:
    """Run several k6 processes at once (the instances of one split run) until all end.

    ``timeout_s`` or Ctrl-C stops every one of them gracefully, so each still
    writes its summary; the results are in the order of ``runs``.
    """
    started: list[_Started] = []
    try:
        for run in runs:
            started.append(_start(run))
        deadline = time.monotonic() + timeout_s
        for one in started:
            one.exit_code = one.process.wait(timeout=max(0.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        _stop_all(started, "timeout")
    except KeyboardInterrupt:
        _stop_all(started, "interrupt")
    except BaseException:
        # SystemExit (SIGTERM) and the like: never leave k6 sending load.
        _stop_all(started, "interrupt")
        raise
    return [_result(one) for one in started]


def run_k6(run: K6Run, *, timeout_s: float) -> K6Result:
    """Run k6 until it ends, ``timeout_s`` passes, or Ctrl-C; the summary is kept in all cases."""
    [result] = run_k6_instances([run], timeout_s=timeout_s)
    return result
