"""Server kinds: one module per server, looked up by name.

A row (services/rows.py) names its ``server`` and ``worker_class``; everything
that depends on the server asks the server's module instead of branching on
names. Like uvicorn's config.py maps loop names to implementations by import
string (LOOP_SETUPS), SERVERS maps a server name to the module attribute that
implements it, imported on first use.

The contract (services/servers/base.py), for a new server kind:

- one module here with a ``SERVER`` singleton subclassing ``ServerKind``, and
  one line in ``SERVERS``;
- ``name``: the registry key, also Row.server and bench_service_info's
  ``server`` label;
- ``worker_classes``: the Row.worker_class values it runs (every row is
  checked against them at import);
- ``metrics``: "multiprocess" (a parent process serves the workers'
  aggregated files; the server's command must call
  services.instrumentation.exposition.start_metrics_server there) or
  "in-process" (the one process serves /metrics, started by the ASGI
  instrumentation at lifespan startup);
- ``knobs(worker_class)``: its tunables as ``Knob(suffix, setting, default,
  choices)``; sab-serve reads ``setting`` (BENCH_*), the stack maps the row
  knob <ROW>_<suffix> (.env, compose) onto it, both validate with
  ``Knob.parse``; a row may override a default (Row.knob_defaults);
- ``command(settings)``: the argv; ``environment(settings)``: variables beyond
  the BENCH_* ones (default: PROMETHEUS_MULTIPROC_DIR for multiprocess);
- ``has_slots(worker_class)``, ``slots_per_worker(settings)``: the row's
  request slots (None: unbounded, an event loop);
- ``processes(settings)``, ``threads(settings)``: bench_service_info's
  ``workers`` and ``threads`` labels;
- optionally ``listeners_in_workers`` (each worker has its own listening
  socket) and ``app_loaded(settings)`` (per-worker setup where the server
  has no post-fork hook).

The stable interface is ``ServerKind``, ``Knob``, ``SettingsError``,
``MetricsMode``, ``SERVERS`` and ``get_server``.
"""

from __future__ import annotations

import functools
import pkgutil

from services.servers.base import Knob, MetricsMode, ServerKind, SettingsError

__all__ = ["SERVERS", "Knob", "MetricsMode", "ServerKind", "SettingsError", "get_server"]

SERVERS: dict[str, str] = {
    "gunicorn": "services.servers.gunicorn:SERVER",
    "uvicorn": "services.servers.uvicorn:SERVER",
    "granian": "services.servers.granian:SERVER",
}


class UnknownServerError(ValueError):
    """A server name that no module implements."""

    def __init__(self, name: str) -> None:
        super().__init__(f"unknown server {name!r}; known servers: {', '.join(SERVERS)}")


@functools.cache
def get_server(name: str) -> ServerKind:
    """The server kind called ``name`` (imported from its module on first use)."""
    try:
        target = SERVERS[name]
    except KeyError:
        raise UnknownServerError(name) from None
    server = pkgutil.resolve_name(target)
    if not isinstance(server, ServerKind) or server.name != name:
        raise TypeError(f"{target} is not the ServerKind {name!r}")
    return server
