"""What a matrix run writes to disk, and reads back to re-render its report.

results/<run-id>/
  results.json          the run, its environment, every step and every figure
  report.md, charts/    rendered from results.json's raw part alone
  steps/<step-id>/      summary.json (k6), k6.log, series.json (Prometheus)
  logs/                 the servers' own logs
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

RESULTS_FILE = "results.json"
REPORT_FILE = "report.md"
CHARTS_DIR = "charts"
STEPS_DIR = "steps"
SCHEMA_VERSION = 1


class RunDataError(ValueError):
    """A run directory that does not hold what `bench report` needs."""


# Fields added since runs were first recorded: an older results.json lacks them.
OPTIONAL_STEP_FIELDS = frozenset({"database_cpu_seconds", "failure"})


@dataclass(frozen=True)
class StepRecord:
    """One k6 run at one offered rate (or the probe), as it happened."""

    id: str
    row: str
    workload: str
    kind: str  # "probe" (one VU, back to back) or "load" (offered_rps, open model)
    repeat: int
    offered_rps: float | None
    seconds: float
    window_start_s: float  # throughput counts responses from here to `seconds` into the step
    started: float  # epoch seconds, when k6 started
    ended: float  # when k6 ended
    exit_code: int
    stopped_by: str | None  # "interrupt", "timeout" or None
    k6_cpu_seconds: float
    directory: str  # relative to the run directory
    # CPU of the PostgreSQL server the harness runs beside the row (None: no
    # database of ours in the run; runs recorded before it was measured).
    database_cpu_seconds: float | None = None
    # Why the step has no whole measurement although the harness did not stop
    # it (k6 killed or crashed, Prometheus not answering); None: it has one.
    failure: str | None = None

    @property
    def partial(self) -> bool:
        """Cut short or failed: its figures are left out of every estimate."""
        return self.stopped_by is not None or self.failure is not None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StepRecord:
        names = {field.name for field in fields(cls)}
        missing = names - data.keys() - OPTIONAL_STEP_FIELDS
        if missing:
            raise RunDataError(f"step record lacks {sorted(missing)}: {data}")
        return cls(**{name: data[name] for name in names if name in data})


def step_to_json(step: StepRecord) -> dict[str, Any]:
    return asdict(step)


def load_results(run_dir: Path) -> dict[str, Any]:
    path = run_dir / RESULTS_FILE
    if not path.is_file():
        raise RunDataError(f"{path} does not exist: is {run_dir} a `bench matrix` run?")
    try:
        data: dict[str, Any] = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise RunDataError(f"{path} is not valid JSON: {error}") from None
    if data.get("schema") != SCHEMA_VERSION:
        raise RunDataError(f"{path}: schema {data.get('schema')!r}, expected {SCHEMA_VERSION}")
    return data


def load_steps(data: dict[str, Any]) -> list[StepRecord]:
    return [StepRecord.from_json(step) for step in data.get("steps", [])]
