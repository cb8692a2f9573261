"""The workloads the matrix runs, each with the latency objective that defines its knee."""

from __future__ import annotations

from dataclasses import dataclass

from services.endpoints import ENDPOINTS_BY_PATH
from services.rows import Row


@dataclass(frozen=True)
class Workload:
    name: str
    endpoint: str  # path and query, as k6 requests it
    slo_p99_ms: float  # a step is within the SLO when k6's p99 is at most this
    what: str

    @property
    def route(self) -> str:
        return self.endpoint.split("?", 1)[0]

    def served_by(self, row: Row) -> bool:
        return row.interface in ENDPOINTS_BY_PATH[self.route].interfaces

    @property
    def needs_database(self) -> bool:
        """Whether the row needs PostgreSQL for it (the native stack then starts one)."""
        return self.route.startswith("/db/")


# SLOs leave room for a little queueing above the service time, not for a
# queue that grows: past the knee, p99 grows without bound within a step.
WORKLOADS: tuple[Workload, ...] = (
    Workload("hello", "/hello", 25, "framework and server overhead (tiny JSON)"),
    Workload("io", "/io?ms=100", 250, "100 ms of waiting, the row's idiomatic way"),
    Workload("io-blocking", "/io/blocking?ms=100", 250, "time.sleep(0.1) inside async def"),
    Workload("io-thread", "/io/thread?ms=100", 250, "a plain def handler sleeping in the pool"),
    Workload("cpu", "/cpu?n=100000", 250, "a pure-Python loop of 100,000 iterations"),
    Workload("downstream", "/downstream?ms=100", 250, "an HTTP call that answers in 100 ms"),
    Workload(
        "db-sleep", "/db/sleep?ms=100", 250, "100 ms held in PostgreSQL through the row's pool"
    ),
    Workload("db-query", "/db/query", 50, "a primary-key lookup in PostgreSQL (100,000 rows)"),
)

WORKLOADS_BY_NAME = {workload.name: workload for workload in WORKLOADS}


def get_workload(name: str) -> Workload:
    try:
        return WORKLOADS_BY_NAME[name]
    except KeyError:
        known = ", ".join(WORKLOADS_BY_NAME)
        raise ValueError(f"unknown workload {name!r}; known: {known}") from None
