"""The k6 scenarios `bench loadtest` knows, and what each one targets by default."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bench.paths import LOADTESTS_DIR
from services.endpoints import endpoints_for
from services.rows import ROWS, Row, get_row


@dataclass(frozen=True)
class Scenario:
    name: str
    summary: str
    default_endpoint: str | None  # None: the row's seed endpoint (/sync or /async)
    timeout_s: float  # at DURATION_SCALE=1; the runner scales it
    # The harness acts on the stack during the run (signals a server): k6 alone,
    # as k6-operator runs it, cannot play it.
    harness_driven: bool = False

    @property
    def script(self) -> Path:
        return LOADTESTS_DIR / f"{self.name}.js"


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario("three-users", "the seed: 3 users, one request each, same moment", None, 200),
        Scenario("ramp", "closed model: VUs step up (4 x 15 s)", "/io?ms=100", 150),
        Scenario("arrival", "open model: arrival rate steps up (4 x 15 s)", "/io?ms=100", 150),
        Scenario("spike", "calm, a burst at RATE, calm again (~40 s)", "/io?ms=100", 150),
        # The harness signals the row's server mid-run (bench/loadtest/restart_run.py).
        Scenario(
            "restart", "steady RATE; SIGTERM, then SIGKILL, to the server", "/io?ms=20", 40, True
        ),
        Scenario("soak", "steady RATE for SOAK_SECONDS (30 min)", "/io?ms=100", 2000),
        # The load generator's ceiling: VUS back to back (docs/loadtests.md).
        Scenario("throughput", "closed model: VUS back to back, 1 s + 5 s", "/hello", 60),
    )
}


def k6_only_scenarios() -> list[Scenario]:
    """The scenarios k6 runs by itself (the ones a k6-operator TestRun can run)."""
    return [scenario for scenario in SCENARIOS.values() if not scenario.harness_driven]


class LoadtestUsageError(ValueError):
    """An invocation that cannot run: unknown scenario, row or endpoint."""


def get_scenario(name: str) -> Scenario:
    try:
        return SCENARIOS[name]
    except KeyError:
        valid = ", ".join(SCENARIOS)
        raise LoadtestUsageError(f"unknown scenario {name!r}; valid scenarios: {valid}") from None


def resolve_targets(target: str) -> list[Row]:
    if target == "all":
        return list(ROWS)
    try:
        return [get_row(target)]
    except ValueError as error:
        raise LoadtestUsageError(f"{error} (or 'all')") from None


def endpoint_for(row: Row, scenario: Scenario, endpoint: str | None) -> str | None:
    """The path+query this row gets, or None when the row does not serve it."""
    chosen = endpoint or scenario.default_endpoint or row.seed_path
    path = chosen.split("?", 1)[0]
    served = {e.path for e in endpoints_for(row.interface)}
    return chosen if path in served else None
