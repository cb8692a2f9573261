"""Label values with bounded cardinality: route templates and HTTP methods."""

from __future__ import annotations

from services.endpoints import endpoints_for
from services.rows import Interface

# OpenTelemetry's convention: known methods as they are, anything else _OTHER.
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"})


def route_labels(interface: Interface) -> dict[str, str]:
    """Each path a row of this interface serves, mapped to its route label.

    The middlewares label a request ``route_labels.get(path, UNMATCHED_ROUTE)``:
    a dict lookup (no Python call on the request path), and never the raw
    path, so the label values are a closed set.
    """
    return {endpoint.path: endpoint.path for endpoint in endpoints_for(interface)}


def method_label(method: str) -> str:
    return method if method in KNOWN_METHODS else "_OTHER"
