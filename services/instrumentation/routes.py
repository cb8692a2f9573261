"""Label values with bounded cardinality: route templates and HTTP methods."""

from __future__ import annotations

from services.endpoints import UNMATCHED_ROUTE, endpoints_for
from services.rows import Interface

# OpenTelemetry's convention: known methods as they are, anything else _OTHER.
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"})


def served_routes(interface: Interface) -> frozenset[str]:
    """Route templates a row of this interface serves: the closed set of label values."""
    return frozenset(endpoint.path for endpoint in endpoints_for(interface))


def route_label(path: str, routes: frozenset[str]) -> str:
    """The route template for ``path``: never the raw path (cardinality stays bounded)."""
    return path if path in routes else UNMATCHED_ROUTE


def method_label(method: str) -> str:
    return method if method in KNOWN_METHODS else "_OTHER"
