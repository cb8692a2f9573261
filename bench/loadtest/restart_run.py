"""The `restart` scenario: steady load on each row while its server is signalled, twice.

Per row, one k6 run with SIGTERM (graceful) and one with SIGKILL (a crash),
each sent FAULT_AT_SECONDS into the run; supervisord starts the server
again. What the clients saw goes to ``<row>/<fault>/`` (k6's summary and
request log) and, for every row and fault, to restart.json and restart.md.
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.atomic import write_json_atomically, write_text_atomically
from bench.loadtest.faults import (
    FaultInjector,
    FaultRecord,
    wait_until_healthy,
    wait_until_running,
)
from bench.loadtest.restart import (
    RestartFigures,
    markdown_table,
    read_request_ends,
    restart_figures,
)
from bench.loadtest.runner import K6Run
from bench.loadtest.split import SplitResult

RESTART_SCENARIO = "restart"
FAULTS = (signal.SIGTERM, signal.SIGKILL)
DEFAULT_DURATION_S = 30.0  # keep in step with loadtests/restart.js
DEFAULT_FAULT_AT_S = 10.0
RESULTS_JSON = "restart.json"
RESULTS_MARKDOWN = "restart.md"

RunK6 = Callable[[K6Run, str], SplitResult]  # (run, title) -> result


@dataclass(frozen=True)
class RestartPlan:
    duration_s: float
    fault_at_s: float

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> RestartPlan:
        scale = float(env.get("DURATION_SCALE", "1"))
        duration = float(env.get("DURATION_SECONDS", DEFAULT_DURATION_S)) * scale
        fault_at = float(env.get("FAULT_AT_SECONDS", DEFAULT_FAULT_AT_S)) * scale
        if not 0 < fault_at < duration:
            raise ValueError(
                f"FAULT_AT_SECONDS ({fault_at:g} s scaled) must fall inside the run "
                f"({duration:g} s scaled): the fault would never be seen"
            )
        return cls(duration, fault_at)


def dropped_iterations(summary: Mapping[str, Any]) -> int:
    metric = summary.get("metrics", {}).get("dropped_iterations")
    return int(metric["values"]["count"]) if metric else 0


def fault_run(
    state_dir: Path,
    row: str,
    sig: signal.Signals,
    *,
    plan: RestartPlan,
    k6_run: K6Run,
    run_k6: RunK6,
) -> tuple[SplitResult, FaultRecord, RestartFigures]:
    """One k6 run against ``row`` with ``sig`` sent part-way; its figures."""
    injector = FaultInjector(state_dir, row, sig, plan.fault_at_s)
    injector.start()
    try:
        result = run_k6(k6_run, f"\nrestart against {row}, {sig.name} at {plan.fault_at_s:g} s")
    finally:
        fault = injector.finish()
    ends = read_request_ends(k6_run.run_dir)
    figures = restart_figures(
        row,
        sig.name,
        ends,
        fault_at=fault.sent_at if fault.sent_at is not None else float("inf"),
        dropped=dropped_iterations(result.summary),
        respawned_after_s=fault.respawned_after_s,
    )
    return result, fault, figures


def without_request_warnings(log: str) -> str:
    """k6's log without its one warning per failed request (hundreds, here, by design)."""
    lines = log.splitlines()
    kept = [line for line in lines if 'msg="Request Failed"' not in line]
    left_out = len(lines) - len(kept)
    if not left_out:
        return log
    return f"({left_out} 'Request Failed' warnings of k6 left out: see k6.log)\n" + "\n".join(kept)


def row_back(state_dir: Path, row: str, base_url: str) -> str | None:
    """None once the row runs and answers again, else why its next run cannot start."""
    if wait_until_running(state_dir, row) and wait_until_healthy(f"{base_url}/health"):
        return None
    return (
        f"{row} is not serving (it did not come back after the last fault?): "
        f"not run; see `make status` and `make logs {row}`"
    )


def write_results(run_dir: Path, figures: list[RestartFigures], notes: list[str]) -> str:
    """restart.json and restart.md in the run directory; the table, for the terminal."""
    table = markdown_table(figures)
    write_json_atomically(
        run_dir / RESULTS_JSON, {"figures": [f.as_dict() for f in figures], "notes": notes}
    )
    write_text_atomically(
        run_dir / RESULTS_MARKDOWN,
        "# Restart under load\n\n"
        "Per row, steady open-model load while its server is sent SIGTERM, then (a "
        "second run) SIGKILL; supervisord starts it again. `refused`: nobody was "
        "listening; `reset`: the connection was accepted, then closed without an "
        "answer (queued, or inside a process that died); `unavailable`: the longest "
        "time without a served request after the signal; `new process after`: signal "
        "to a new pid in supervisord.\n\n" + table + "".join(f"\n- {note}" for note in notes),
    )
    return table


@dataclass
class RestartOutcome:
    records: list[dict[str, Any]]
    worst_exit: int = 0
    partial: bool = False
    failed: str | None = None  # k6 failed (killed, crashed): why, and the run stopped there


def run_restart(
    rows: list[tuple[str, str]],
    k6_run_for: Callable[[str, str], K6Run],
    run_k6: RunK6,
    *,
    plan: RestartPlan,
    state_dir: Path,
    run_dir: Path,
) -> RestartOutcome:
    """Every (row, base URL) through every fault, one after the other; stops on Ctrl-C.

    ``k6_run_for(row, fault)`` is the k6 run for one row and fault (its own
    run directory, a ``fault`` tag, the request log on).
    """
    outcome = RestartOutcome([])
    figures: list[RestartFigures] = []
    notes: list[str] = []
    for row, base_url in rows:
        for sig in FAULTS:
            problem = row_back(state_dir, row, base_url)
            if problem:
                notes.append(problem)
                print(problem)
                break
            k6_run = k6_run_for(row, sig.name.lower())
            result, fault, row_figures = fault_run(
                state_dir, row, sig, plan=plan, k6_run=k6_run, run_k6=run_k6
            )
            print(without_request_warnings(result.stdout_summary()).rstrip())
            figures.append(row_figures)
            outcome.records.append(
                {
                    **row_figures.as_dict(),
                    "exit_code": result.exit_code,
                    "partial": result.partial,
                    "failure": result.failure,
                    "summary": str(result.summary_path.relative_to(run_dir)),
                    "fault_sent_at": fault.sent_at,
                    "old_pid": fault.old_pid,
                    "new_pid": fault.new_pid,
                    "fault_error": fault.error,
                }
            )
            if fault.error:
                notes.append(f"{row}, {sig.name}: {fault.error}")
            outcome.worst_exit = max(outcome.worst_exit, result.exit_code)
            if result.failure:
                # Nothing of ours stopped k6: its figures are incomplete, send no more load.
                outcome.failed = f"{row}, {sig.name}: {result.failure}"
                outcome.partial = result.partial
                break
            if result.partial:
                outcome.partial = True
                break
        if outcome.partial or outcome.failed:
            break
    print("\n" + write_results(run_dir, figures, notes), end="")
    for note in notes:
        print(f"note: {note}")
    return outcome
