"""Other metrics libraries, for `bench overhead --peers`: the same rows, instrumented as
their users would instrument them instead of by our package.

A peer is selected at start by BENCH_INSTRUMENTATION=<name> (docs/configuration.md);
``on`` (ours) and ``off`` (bare) stay the default and the control. Each peer lives
in one module with one job: wrap the app as the library's documentation
recommends for Prometheus, and serve the library's metrics at GET /metrics on
the row's own port (PEER_METRICS_PATH), where that documentation puts them.
The registry below is data, so the settings can validate a name without
importing any library.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from services.peers.base import PEER_METRICS_PATH, Peer

__all__ = [
    "PEERS",
    "PEERS_BY_NAME",
    "PEER_METRICS_PATH",
    "Peer",
    "PeerSpec",
    "load_peer",
    "peers_for",
]


@dataclass(frozen=True)
class PeerSpec:
    """One library a row can be instrumented with instead of ours."""

    name: str  # the BENCH_INSTRUMENTATION value
    distribution: str  # the PyPI package (pinned in pyproject.toml)
    frameworks: tuple[str, ...]  # the rows' Row.framework it applies to
    module: str  # implements it: a module-level PEER

    def applies_to(self, framework: str) -> bool:
        return framework in self.frameworks


_PACKAGE = __name__
PEERS: tuple[PeerSpec, ...] = (
    PeerSpec(
        "instrumentator",
        "prometheus-fastapi-instrumentator",
        ("fastapi",),
        f"{_PACKAGE}.instrumentator",
    ),
    PeerSpec(
        "starlette-exporter", "starlette-exporter", ("fastapi",), f"{_PACKAGE}.starlette_exporter"
    ),
    PeerSpec(
        "flask-exporter", "prometheus-flask-exporter", ("flask",), f"{_PACKAGE}.flask_exporter"
    ),
    PeerSpec(
        "django-prometheus", "django-prometheus", ("django",), f"{_PACKAGE}.django_prometheus"
    ),
    PeerSpec(
        "opentelemetry",
        "opentelemetry-instrumentation-{asgi,fastapi,wsgi,flask,django} + exporter-prometheus",
        ("fastapi", "flask", "django"),
        f"{_PACKAGE}.opentelemetry",
    ),
)
PEERS_BY_NAME = {spec.name: spec for spec in PEERS}


def peers_for(framework: str) -> tuple[PeerSpec, ...]:
    """The peers a row of ``framework`` can be measured with, in table order."""
    return tuple(spec for spec in PEERS if spec.applies_to(framework))


def load_peer(name: str) -> Peer:
    """Import the peer's module (and so its library) and return its PEER."""
    peer = importlib.import_module(PEERS_BY_NAME[name].module).PEER
    if not isinstance(peer, Peer):
        raise TypeError(f"{PEERS_BY_NAME[name].module}.PEER is not a Peer")
    return peer
