"""Paired rounds: two freshly started servers on one core, measured in the same seconds.

What `bench overhead` (a row against its bare app) and `bench versus` (a row
against a baseline row) share. Each round starts both sides, pinned to the
same core, loads them and stops them; k6 runs on the other core. Fresh
processes every round, because two starts of the same app differ by 1-2% in
CPU per request (memory layout, hash seed), which a single pair would charge
to the comparison. Two ways to load a pair:
  * simultaneous (default): one closed-loop k6 run loads both at once, so
    both share the core in the same seconds and a slow moment of a shared
    machine hits both alike;
  * alternating: one at a time in short slices (a, b, b, a, ...).

Each slice gives two figures: throughput (requests per second) and
efficiency (requests per CPU-second of the side's processes, master and
workers), which does not depend on who the bottleneck is. A comparison is the
median, over rounds, of each round's ratio: the two sides of one round ran in
the same seconds, so their ratio cancels the machine's drift between rounds.
"""

from __future__ import annotations

import itertools
import math
import statistics
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from scipy.stats import t as student_t

from bench.cores import split_cores
from bench.loadtest.runner import K6Result, K6Run, run_k6
from bench.paths import LOADTESTS_DIR
from bench.procs import RunningRow, running_row, tree_cpu_seconds

SINGLE_SCRIPT = LOADTESTS_DIR / "throughput.js"
PAIR_SCRIPT = LOADTESTS_DIR / "throughput-pair.js"
Method = Literal["simultaneous", "alternating"]
METHODS: tuple[Method, ...] = ("simultaneous", "alternating")
_run_numbers = itertools.count()


@dataclass(frozen=True)
class Contender:
    """One side of a pair: a row and the BENCH_* knobs (without the prefix) it starts with."""

    row: str
    knobs: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Load:
    """How each slice loads a side: closed-loop users on one endpoint."""

    endpoint: str = "/hello"
    vus: int = 8
    seconds: float = 3.0
    method: Method = "simultaneous"


@dataclass(frozen=True)
class Slice:
    rps: float
    requests_per_cpu_second: float


@dataclass
class Side:
    slices: list[Slice] = field(default_factory=list)

    def median_rps(self) -> float:
        return statistics.median(s.rps for s in self.slices)

    def median_efficiency(self) -> float:
        return statistics.median(s.requests_per_cpu_second for s in self.slices)


@dataclass(frozen=True)
class PairResult:
    """Side a against side b over every round."""

    a: Side
    b: Side

    @property
    def throughput_ratio(self) -> float:
        return statistics.median(self._pair_ratios(lambda s: s.rps))

    @property
    def efficiency_ratio(self) -> float:
        return statistics.median(self.pair_efficiency_ratios())

    def pair_efficiency_ratios(self) -> list[float]:
        return self._pair_ratios(lambda s: s.requests_per_cpu_second)

    def efficiency_interval(self, confidence: float = 0.95) -> tuple[float, float] | None:
        """Interval of the typical a/b efficiency ratio (Student's t on the logs); None for n<2.

        Each round's ratio is one paired observation; their logarithms are
        close to normal and symmetric (a 10% gain and a 10% loss weigh alike).
        """
        logs = [math.log(ratio) for ratio in self.pair_efficiency_ratios()]
        if len(logs) < 2:  # a spread needs two rounds
            return None
        centre = statistics.fmean(logs)
        half = student_t.ppf((1 + confidence) / 2, len(logs) - 1) * statistics.stdev(logs)
        half /= math.sqrt(len(logs))
        return math.exp(centre - half), math.exp(centre + half)

    def _pair_ratios(self, figure: Callable[[Slice], float]) -> list[float]:
        pairs = zip(self.a.slices, self.b.slices, strict=True)
        return [figure(a) / figure(b) for a, b in pairs]


def _count(metrics: dict[str, Any], scenario: str) -> float:
    count: float = (
        metrics.get(f"http_reqs{{scenario:{scenario}}}", {}).get("values", {}).get("count", 0)
    )
    return count


def _run_load(
    script: Path, targets: dict[str, str], load: Load, workdir: Path, testid: str
) -> K6Result:
    """One closed-loop k6 run of ``script`` on the load cores."""
    env = {
        **targets,
        "ENDPOINT": load.endpoint,
        "VUS": str(load.vus),
        "MEASURE_SECONDS": str(load.seconds),
    }
    run = K6Run(
        script=script,
        env=env,
        run_dir=workdir / f"k6-{next(_run_numbers)}",
        testid=testid,
        cpus=split_cores().load,
    )
    return run_k6(run, timeout_s=load.seconds + 60)


def measure_slice(server: RunningRow, load: Load, workdir: Path, testid: str) -> Slice:
    """One k6 run of closed-loop requests: its rate and the row's CPU per request."""
    cpu_before = tree_cpu_seconds(server.process.pid)
    targets = {"BASE_URL": server.base_url, "SERVICE": server.name}
    result = _run_load(SINGLE_SCRIPT, targets, load, workdir, testid)
    cpu_seconds = tree_cpu_seconds(server.process.pid) - cpu_before
    metrics = result.summary.get("metrics", {})
    if result.exit_code != 0 or "http_reqs{scenario:measure}" not in metrics:
        log_tail = result.stdout_summary()[-2000:]
        raise RuntimeError(f"k6 exited {result.exit_code} against {server.name}:\n{log_tail}")
    measured: float = metrics["http_reqs{scenario:measure}"]["values"]["count"]
    everything: float = metrics["http_reqs"]["values"]["count"]  # warm-up included, like the CPU
    return Slice(measured / float(load.seconds), everything / max(cpu_seconds, 1e-6))


def measure_pair(
    servers: tuple[RunningRow, RunningRow], load: Load, workdir: Path, testid: str
) -> tuple[Slice, Slice]:
    """One k6 run against both servers at once (closed loop each): a slice per side."""
    cpu_before = [tree_cpu_seconds(server.process.pid) for server in servers]
    targets = {
        "BASE_URL_A": servers[0].base_url,
        "BASE_URL_B": servers[1].base_url,
        "SERVICE": servers[0].name,
    }
    result = _run_load(PAIR_SCRIPT, targets, load, workdir, testid)
    metrics = result.summary.get("metrics", {})
    if (
        result.exit_code != 0
        or not _count(metrics, "measure_a")
        or not _count(metrics, "measure_b")
    ):
        log_tail = result.stdout_summary()[-2000:]
        names = f"{servers[0].name} and {servers[1].name}"
        raise RuntimeError(f"k6 exited {result.exit_code} against {names}:\n{log_tail}")
    slices = []
    for side, server, before in zip("ab", servers, cpu_before, strict=True):
        cpu_seconds = tree_cpu_seconds(server.process.pid) - before
        everything = _count(metrics, f"warmup_{side}") + _count(metrics, f"measure_{side}")
        slices.append(
            Slice(
                _count(metrics, f"measure_{side}") / float(load.seconds),
                everything / max(cpu_seconds, 1e-6),
            )
        )
    return slices[0], slices[1]


def measure_round(
    a: Contender, b: Contender, round_index: int, load: Load, *, workdir: Path, testid: str
) -> tuple[Slice, Slice]:
    """One pair, each side a freshly started server on the services core: (a, b)."""
    cores = split_cores().services
    with (
        running_row(a.row, workdir, cpus=cores, extra_knobs=a.knobs) as server_a,
        running_row(b.row, workdir, cpus=cores, extra_knobs=b.knobs) as server_b,
    ):
        # Alternate which side goes first (k6 scenario a, or the first slice).
        first, second = (server_a, server_b) if round_index % 2 == 0 else (server_b, server_a)
        if load.method == "simultaneous":
            slice_first, slice_second = measure_pair((first, second), load, workdir, testid)
        else:
            slice_first = measure_slice(first, load, workdir, testid)
            slice_second = measure_slice(second, load, workdir, testid)
    if first is server_a:
        return slice_first, slice_second
    return slice_second, slice_first


def measure(
    a: Contender, b: Contender, rounds: int, load: Load, *, workdir: Path, testid: str
) -> PairResult:
    """``rounds`` paired rounds of a against b."""
    side_a, side_b = Side(), Side()
    for round_index in range(rounds):
        slice_a, slice_b = measure_round(a, b, round_index, load, workdir=workdir, testid=testid)
        side_a.slices.append(slice_a)
        side_b.slices.append(slice_b)
    return PairResult(side_a, side_b)
