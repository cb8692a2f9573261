"""The workload endpoints: paths, parameters, defaults and maxima.

One table for every row. The frameworks route these paths; the
instrumentation uses ROUTE_TEMPLATES as its closed set of ``route`` label
values, so a raw path can never become a label.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.rows import Interface


@dataclass(frozen=True)
class Param:
    """A bounded integer query parameter."""

    name: str
    default: int
    minimum: int
    maximum: int
    unit: str


MS = Param("ms", default=100, minimum=0, maximum=60_000, unit="milliseconds")
SEED_MS = Param("ms", default=5_000, minimum=0, maximum=60_000, unit="milliseconds")
CPU_N = Param("n", default=100_000, minimum=0, maximum=5_000_000, unit="loop iterations")


@dataclass(frozen=True)
class Endpoint:
    path: str
    params: tuple[Param, ...]
    interfaces: frozenset[Interface]
    summary: str


BOTH: frozenset[Interface] = frozenset({"wsgi", "asgi"})
ASGI_ONLY: frozenset[Interface] = frozenset({"asgi"})
WSGI_ONLY: frozenset[Interface] = frozenset({"wsgi"})

ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint("/hello", (), BOTH, "tiny JSON: framework + server overhead"),
    Endpoint("/io", (MS,), BOTH, "wait ms the row's idiomatic way"),
    Endpoint("/io/blocking", (MS,), ASGI_ONLY, "time.sleep inside async def (anti-pattern)"),
    Endpoint("/io/thread", (MS,), ASGI_ONLY, "plain def handler: runs in the thread pool"),
    Endpoint("/cpu", (CPU_N,), BOTH, "CPU-bound loop of n iterations"),
    Endpoint("/downstream", (MS,), BOTH, "HTTP call to the latency service, which waits ms"),
    Endpoint("/db/sleep", (MS,), BOTH, "SELECT pg_sleep(ms) through the row's pool"),
    Endpoint("/db/query", (), BOTH, "primary-key lookup of a random seeded row, as JSON"),
    Endpoint("/db/thread/sleep", (MS,), ASGI_ONLY, "/db/sleep from a plain def handler (threads)"),
    Endpoint("/db/thread/query", (), ASGI_ONLY, "/db/query from a plain def handler (threads)"),
    Endpoint("/sync", (SEED_MS,), WSGI_ONLY, "the seed demo: time.sleep, 5 s by default"),
    Endpoint("/async", (SEED_MS,), ASGI_ONLY, "the seed demo: await asyncio.sleep, 5 s by default"),
)

HEALTH_PATH = "/health"
UNMATCHED_ROUTE = "unmatched"  # label for any path that is not a workload endpoint

ROUTE_TEMPLATES: frozenset[str] = frozenset(endpoint.path for endpoint in ENDPOINTS)


def endpoints_for(interface: Interface) -> tuple[Endpoint, ...]:
    """The endpoints a row of this interface serves."""
    return tuple(e for e in ENDPOINTS if interface in e.interfaces)


ENDPOINTS_BY_PATH: dict[str, Endpoint] = {endpoint.path: endpoint for endpoint in ENDPOINTS}
