"""What a server kind is: the interface every module in services/servers implements.

See the package docstring (services/servers/__init__.py) for the contract.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, Literal

if TYPE_CHECKING:
    from services.settings import RowSettings

# Where /metrics is served from (docs/metrics.md):
# - "multiprocess": the workers write prometheus-client multiprocess files and
#   a parent process that holds the listening socket serves them aggregated;
#   the server's command must make that parent call
#   services.instrumentation.exposition.start_metrics_server (gunicorn: the
#   hooks in services/instrumentation/gunicorn_config.py).
# - "in-process": one process serves requests and /metrics; the ASGI
#   instrumentation starts the metrics server at lifespan startup.
MetricsMode = Literal["multiprocess", "in-process"]


class SettingsError(ValueError):
    """A knob with a value the row cannot use; the message names the variable."""


@dataclass(frozen=True)
class Knob:
    """One tunable of a server kind.

    ``setting`` is the variable sab-serve reads (BENCH_WORKERS); ``suffix``
    names the row knob of the stack (.env, compose): <ROW>_<suffix>, e.g.
    FLASK_SYNC_WORKERS. With ``choices`` the value is one of them, otherwise a
    whole number >= 1.
    """

    suffix: str
    setting: str
    default: str
    choices: tuple[str, ...] = ()

    def parse(self, name: str, raw: str) -> str:
        """The normalised value of ``raw``; SettingsError naming ``name`` if unusable."""
        value = raw.strip()
        if self.choices:
            value = value.lower()
            if value not in self.choices:
                allowed = " or ".join(repr(choice) for choice in self.choices)
                raise SettingsError(f"{name}={raw!r} must be {allowed}")
            return value
        try:
            number = int(value)
        except ValueError:
            raise SettingsError(f"{name}={raw!r} is not a whole number") from None
        if number < 1:
            raise SettingsError(f"{name}={number} must be at least 1")
        return str(number)


class ServerKind(ABC):
    """One server (gunicorn, uvicorn, ...): everything the harness asks about it.

    Implementations are stateless singletons; every method that depends on a
    row's knobs takes the row's resolved RowSettings (``settings.row`` is the
    row, ``settings.knob(...)`` a resolved knob value).
    """

    name: ClassVar[str]
    # The Row.worker_class values this server runs (validated for every row).
    worker_classes: ClassVar[tuple[str, ...]]
    # Where /metrics is served: see MetricsMode.
    metrics: ClassVar[MetricsMode]
    # True where each worker opens its own listening socket (SO_REUSEPORT)
    # instead of inheriting the parent's: the listen backlog is then read
    # from the workers' sockets (services/instrumentation/collectors.py).
    listeners_in_workers: ClassVar[bool] = False

    @abstractmethod
    def knobs(self, worker_class: str) -> tuple[Knob, ...]:
        """The knobs of a row with this worker class (empty: nothing to tune)."""

    @abstractmethod
    def command(self, settings: RowSettings) -> list[str]:
        """The argv that serves the row (its first item is found on the venv's PATH)."""

    @abstractmethod
    def has_slots(self, worker_class: str) -> bool:
        """Whether such a row has a fixed number of request slots (bench_worker_slots)."""

    @abstractmethod
    def slots_per_worker(self, settings: RowSettings) -> int | None:
        """Requests one worker runs at once; None where not bounded (an event loop)."""

    @abstractmethod
    def processes(self, settings: RowSettings) -> int:
        """Worker processes serving requests (bench_service_info's ``workers``)."""

    def threads(self, settings: RowSettings) -> int:
        """Threads per worker (bench_service_info's ``threads``)."""
        return 1

    def app_loaded(self, settings: RowSettings) -> None:
        """Called in each worker once the instrumented app is imported.

        For servers with no post-fork hook of their own (gunicorn sets its
        slots in post_worker_init); the default does nothing.
        """
        return

    def environment(self, settings: RowSettings) -> dict[str, str]:
        """Variables the server needs beyond the BENCH_* settings.

        The default puts prometheus-client's multiprocess directory in the
        environment of multiprocess servers: it is read at import time, so it
        must be there before the server imports anything.
        """
        if self.metrics == "multiprocess":
            return {"PROMETHEUS_MULTIPROC_DIR": str(settings.multiproc_dir)}
        return {}
