"""The matrix run: rows x workloads x offered rates, in random order, recorded step by step."""

from __future__ import annotations

import random
import time
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tqdm import tqdm

from bench.cores import CoreSplit
from bench.matrix.analysis import predict
from bench.matrix.figures import StepFigures, step_figures
from bench.matrix.ladder import Ladder
from bench.matrix.profiles import Profile
from bench.matrix.records import (
    RESULTS_FILE,
    SCHEMA_VERSION,
    StepRecord,
    step_to_json,
    write_json_atomically,
)
from bench.matrix.stacks import RowTarget, Stack
from bench.matrix.steps import StepPlan, idle_cpu_cores, run_step
from bench.matrix.workloads import Workload
from services.rows import get_row

MIN_REQUESTS = 8
MAX_STEP_S = 10.0


class Interrupted(Exception):
    """Ctrl-C reached k6 during a step: stop after recording it."""


@dataclass(frozen=True)
class MatrixPlan:
    run_id: str
    profile: Profile
    rows: tuple[str, ...]
    workloads: tuple[Workload, ...]
    fixed_rates: tuple[float, ...]  # when given, every ladder runs exactly these
    seed: int
    stack: str
    knobs: dict[str, int]
    prometheus_url: str | None = None  # the docker stack's; native runs its own

    def pairs(self) -> int:
        return sum(1 for r in self.rows for w in self.workloads if w.served_by(get_row(r)))


@dataclass
class RunLog:
    """results.json while the run goes on: rewritten after every step."""

    run_dir: Path
    plan: MatrixPlan
    environment: dict[str, Any]
    steps: list[StepRecord] = field(default_factory=list)
    started_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    ended_at: str | None = None
    complete: bool = False
    stopped_because: str | None = None
    idle_cpu_cores: dict[str, float] = field(default_factory=dict)  # per row, before its steps
    failures: list[str] = field(default_factory=list)

    def raw(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA_VERSION,
            "run": {
                "id": self.plan.run_id,
                "started_at": self.started_at,
                "ended_at": self.ended_at,
                "complete": self.complete,
                "stopped_because": self.stopped_because,
                "profile": asdict(self.plan.profile),
                "rows": list(self.plan.rows),
                "workloads": [w.name for w in self.plan.workloads],
                "fixed_rates": list(self.plan.fixed_rates),
                "seed": self.plan.seed,
                "stack": self.plan.stack,
                "prometheus_url": self.plan.prometheus_url,
                "knobs": self.plan.knobs,
            },
            "environment": self.environment,
            "idle_cpu_cores": self.idle_cpu_cores,
            "failures": self.failures,
            "steps": [step_to_json(step) for step in self.steps],
        }

    def add(self, step: StepRecord) -> None:
        self.steps.append(step)
        self.save()

    def save(self) -> None:
        write_json_atomically(self.run_dir / RESULTS_FILE, self.raw())


@dataclass
class Matrix:
    plan: MatrixPlan
    stack: Stack
    log: RunLog
    cores: CoreSplit
    progress: tqdm[Any]
    service_cores: int
    _index: int = 0

    def _step(self, target: RowTarget, plan: StepPlan) -> StepRecord:
        rate = "probe" if plan.offered_rps is None else f"{plan.offered_rps:g} rps"
        self.progress.set_postfix_str(f"{plan.row} {plan.workload.name} {rate}", refresh=True)
        record, result = run_step(
            plan,
            target,
            self.stack,
            run_dir=self.log.run_dir,
            cores=self.cores,
            testid=self.plan.run_id,
        )
        self.log.add(record)
        self.progress.update()
        if self.progress.total is not None and self.progress.n >= self.progress.total:
            self.progress.total = self.progress.n + 1
        if result.stopped_by == "interrupt":
            raise Interrupted
        if result.exit_code != 0 and not result.partial:
            tail = result.stdout_summary()[-1500:]
            raise RuntimeError(f"k6 failed at step {record.id} ({plan.directory}):\n{tail}")
        return record

    def _plan(
        self, row: str, workload: Workload, *, repeat: int, rate: float | None, latency_s: float
    ) -> StepPlan:
        """The next step; ``rate`` None is the probe."""
        self._index += 1
        profile = self.plan.profile
        kind = "probe" if rate is None else "load"
        # Long enough for a handful of requests even at a few per second.
        seconds = (
            profile.probe_seconds
            if rate is None
            else max(profile.step_seconds, min(MIN_REQUESTS / rate, MAX_STEP_S))
        )
        return StepPlan(self._index, row, workload, kind, repeat, rate, seconds, latency_s)

    def _first_ladder(self, target: RowTarget, workload: Workload) -> tuple[list[float], float]:
        """Probe (warm-up and unloaded service time), then ramp until the knee is bracketed."""
        row = target.name
        probe_step = self._step(target, self._plan(row, workload, repeat=1, rate=None, latency_s=0))
        probe = step_figures(probe_step, self.log.run_dir)
        latency_s = (probe.server_mean_ms or probe.mean_ms or 100.0) / 1000.0
        first_aim = predict(workload.name, probe, [], self.service_cores).knee_rps
        ladder = Ladder(
            self.plan.profile,
            first_aim or max(probe.throughput_rps, self.plan.profile.min_rate),
            self.plan.fixed_rates,
        )
        within: list[StepFigures] = []
        while (rate := ladder.next_rate()) is not None:
            plan = self._plan(row, workload, repeat=1, rate=rate, latency_s=latency_s)
            figures = step_figures(self._step(target, plan), self.log.run_dir)
            ladder.record(rate, figures.saturated)
            if not figures.saturated:
                # Every level within the SLO sharpens the CPU line: aim at its limit.
                within.append(figures)
                ladder.aim_at(predict(workload.name, probe, within, self.service_cores).knee_rps)
        return ladder.rates, latency_s

    def _run_row(self, target: RowTarget, workloads: list[Workload], rng: random.Random) -> None:
        ladders: dict[str, tuple[list[float], float]] = {}
        for repeat in range(1, self.plan.profile.repeats + 1):
            rng.shuffle(workloads)
            for workload in workloads:
                if repeat == 1:
                    ladders[workload.name] = self._first_ladder(target, workload)
                    continue
                # Later repeats rerun the same rates, so levels line up.
                rates, latency_s = ladders[workload.name]
                for rate in rates:
                    plan = self._plan(
                        target.name, workload, repeat=repeat, rate=rate, latency_s=latency_s
                    )
                    self._step(target, plan)

    def run(self) -> None:
        rng = random.Random(self.plan.seed)
        rows = list(self.plan.rows)
        rng.shuffle(rows)
        for row in rows:
            workloads = [w for w in self.plan.workloads if w.served_by(get_row(row))]
            entered = time.time()
            with ExitStack() as row_stack:
                try:
                    target = row_stack.enter_context(self.stack.row(row))
                except RuntimeError as error:
                    # One row that does not start must not cost the rest of the run.
                    first_line = str(error).splitlines()[0]
                    self.log.failures.append(f"{row} did not start: {first_line}")
                    self.log.save()
                    continue
                self.progress.set_postfix_str(f"{row}: idle CPU", refresh=True)
                self.log.idle_cpu_cores[row] = idle_cpu_cores(self.stack, row, since=entered)
                self._run_row(target, workloads, rng)
