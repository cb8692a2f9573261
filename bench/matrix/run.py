"""The matrix run: rounds of every row x workload, each round in a new order, recorded step by step.

Round 1 searches each pair's capacity and knee (bench.matrix.ladder); every
later round starts every row afresh, in a new random order, and reruns the
levels that decide its figures. So each figure has one repeat per round,
each taken at another moment of the machine and in another process of the
row, and the machine's drift between minutes lands on every row alike.
"""

from __future__ import annotations

import random
import time
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tqdm import tqdm

from bench.atomic import write_json_atomically
from bench.cores import CoreSplit
from bench.matrix.analysis import predict
from bench.matrix.control import control_name, row_of
from bench.matrix.figures import StepFigures, step_figures
from bench.matrix.ladder import ESCALATIONS, Ladder, Outcome, first_step_limit
from bench.matrix.profiles import Profile
from bench.matrix.records import (
    RESULTS_FILE,
    SCHEMA_VERSION,
    StepRecord,
    step_to_json,
)
from bench.matrix.stacks import RowTarget, Stack
from bench.matrix.steps import StepPlan, idle_cpu_cores, run_step, warm_up
from bench.matrix.workloads import Workload

MIN_REQUESTS = 8
MAX_STEP_S = 10.0
# A step whose k6 failed (killed, crashed) is run once more; a second failure,
# or Prometheus not answering, stops the run (its finished steps are kept).
STEP_ATTEMPTS = 2


class Interrupted(Exception):
    """Ctrl-C reached k6 during a step: stop after recording it."""


class StepFailedError(RuntimeError):
    """A step failed and the run cannot go on; the message says why (first line) and where."""


@dataclass(frozen=True)
class MatrixPlan:
    run_id: str
    profile: Profile
    rows: tuple[str, ...]
    workloads: tuple[Workload, ...]
    fixed_rates: tuple[float, ...]  # when given, every round runs exactly these
    seed: int
    stack: str
    knobs: dict[str, int]
    prometheus_url: str | None = None  # the docker stack's; native runs its own
    control: str | None = None  # a row measured twice, the second time as its A/A control
    k6_instances: int = 1  # k6 processes per step, as `bench loadtest --instances` splits

    def entries(self) -> tuple[str, ...]:
        """What the run measures: the rows, and the control's copy of one of them."""
        return (*self.rows, *([control_name(self.control)] if self.control else []))

    def pairs(self) -> int:
        return sum(1 for r in self.entries() for w in self.workloads if w.served_by(row_of(r)))


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
                "control": self.plan.control,
                "k6_instances": self.plan.k6_instances,
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
class Search:
    """The first round's search for one row x workload, kept for the later rounds."""

    ladder: Ladder
    latency_s: float  # the probe's service time: sizes the VU pool of every step


@dataclass
class Matrix:
    plan: MatrixPlan
    stack: Stack
    log: RunLog
    cores: CoreSplit
    progress: tqdm[Any]
    service_cores: int
    searches: dict[tuple[str, str], Search] = field(default_factory=dict)
    _index: int = 0

    def _step(self, target: RowTarget, plan: StepPlan) -> StepFigures:
        """Run and record one step; one whose k6 failed is recorded failed and run again."""
        rate = "probe" if plan.offered_rps is None else f"{plan.offered_rps:g} rps"
        where = f"round {plan.repeat}: {plan.row} {plan.workload.name} {rate}"
        attempt = 1
        while True:
            self.progress.set_postfix_str(where, refresh=True)
            record, result = run_step(
                plan,
                target,
                self.stack,
                run_dir=self.log.run_dir,
                cores=self.cores,
                testid=self.plan.run_id,
                instances=self.plan.k6_instances,
            )
            self.log.add(record)
            self.progress.update()
            if self.progress.total is not None and self.progress.n >= self.progress.total:
                self.progress.total = self.progress.n + 1
            if result.stopped_by == "interrupt":
                raise Interrupted
            if record.failure is None:
                return step_figures(record, self.log.run_dir)
            # k6 alone failed (Prometheus recorded the step): the next attempt may not.
            again = attempt < STEP_ATTEMPTS and record.failure == result.failure
            self.log.failures.append(
                f"step {record.id} ({record.directory}) failed: {record.failure}; "
                f"its figures are left out{', it was run again' if again else ''}"
            )
            self.log.save()
            if not again:
                tail = result.stdout_summary()[-1500:] if result.failure else ""
                raise StepFailedError(
                    f"step {record.id} ({record.directory}) failed: {record.failure}\n"
                    f"The run stops here; its finished steps are kept.\n{tail}".rstrip()
                )
            attempt += 1
            self._index += 1
            plan = replace(plan, index=self._index)

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

    def _search(self, target: RowTarget, workload: Workload) -> None:
        """Round 1: probe (warm-up, service time), then capacity and knee (see ladder)."""
        row = target.name
        probe = self._step(target, self._plan(row, workload, repeat=1, rate=None, latency_s=0))
        latency_s = (probe.server_mean_ms or probe.mean_ms or 100.0) / 1000.0
        predicted = first_step_limit(
            predict(workload.name, probe, self.service_cores).capacity_rps,
            probe.throughput_rps,
            self.plan.profile,
        )
        ladder = Ladder(self.plan.profile, predicted, self.plan.fixed_rates)
        while (rate := ladder.next_rate()) is not None:
            plan = self._plan(row, workload, repeat=1, rate=rate, latency_s=latency_s)
            ladder.record(self._outcome(rate, self._step(target, plan)))
        self.searches[(row, workload.name)] = Search(ladder, latency_s)

    def _outcome(self, rate: float, figures: StepFigures) -> Outcome:
        busy = figures.cpu_cores
        share = None if busy is None else busy / self.service_cores
        return Outcome(rate, figures.saturated, figures.overloaded, figures.throughput_rps, share)

    def _rerun(
        self, target: RowTarget, workload: Workload, repeat: int, rng: random.Random
    ) -> None:
        """A later round: warm the fresh row up, then rerun the levels that decide the figures."""
        search = self.searches.get((target.name, workload.name))
        if search is None:
            return  # its first round did not finish (the row did not start)
        warm_up(target, workload)
        ladder = search.ladder
        rates = ladder.later_rates()
        rng.shuffle(rates)
        at_level: Outcome | None = None
        for rate in rates:
            outcome = self._outcome(rate, self._rerun_step(target, workload, repeat, rate))
            if rate == ladder.capacity_level:
                at_level = outcome
        # Kept up at the capacity level: go on up until the row cannot (see ladder).
        for _ in range(ESCALATIONS):
            if at_level is None or at_level.overloaded:
                break
            if (higher := ladder.escalation_rate(at_level)) is None:
                break
            at_level = self._outcome(higher, self._rerun_step(target, workload, repeat, higher))

    def _rerun_step(
        self, target: RowTarget, workload: Workload, repeat: int, rate: float
    ) -> StepFigures:
        search = self.searches[(target.name, workload.name)]
        plan = self._plan(
            target.name, workload, repeat=repeat, rate=rate, latency_s=search.latency_s
        )
        return self._step(target, plan)

    def _visit(self, name: str, repeat: int, rng: random.Random) -> None:
        """One round's visit of one row: a fresh start, then every workload it serves."""
        workloads = [w for w in self.plan.workloads if w.served_by(row_of(name))]
        rng.shuffle(workloads)
        entered = time.time()
        with ExitStack() as row_stack:
            try:
                target = row_stack.enter_context(self.stack.row(name))
            except RuntimeError as error:
                # One row that does not start must not cost the rest of the run.
                first_line = str(error).splitlines()[0]
                self.log.failures.append(f"{name} did not start in round {repeat}: {first_line}")
                self.log.save()
                return
            if repeat == 1:
                self.progress.set_postfix_str(f"{name}: idle CPU", refresh=True)
                self.log.idle_cpu_cores[name] = idle_cpu_cores(self.stack, name, since=entered)
            for workload in workloads:
                if repeat == 1:
                    self._search(target, workload)
                else:
                    self._rerun(target, workload, repeat, rng)

    def run(self) -> None:
        """Rounds of every row, each round in a new random order (A B C, B C A, ...)."""
        rng = random.Random(self.plan.seed)
        for repeat in range(1, self.plan.profile.repeats + 1):
            order = list(self.plan.entries())
            rng.shuffle(order)
            for name in order:
                self._visit(name, repeat, rng)
