"""Framework-neutral workload pieces every row shares.

Query parsing and validation (one error format for every framework), the CPU
work, and the JSON bodies. Handlers stay thin so the frameworks, not this
module, are what the benchmark compares.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from services.endpoints import Endpoint, Param
from services.settings import RowSettings

JSON_CONTENT_TYPE = "application/json"


@dataclass
class BadRequest(Exception):
    """Input the endpoint cannot accept; becomes a 400 JSON answer."""

    message: str
    param: str | None = None
    maximum: int | None = None

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"error": self.message}
        if self.param is not None:
            body["param"] = self.param
        if self.maximum is not None:
            body["max"] = self.maximum
        return body


def _range_message(param: Param) -> str:
    return (
        f"{param.name} must be an integer between {param.minimum} and {param.maximum} "
        f"({param.unit})"
    )


def parse_params(endpoint: Endpoint, query_string: str) -> dict[str, int]:
    """Validate ``query_string`` against ``endpoint``; defaults fill what is absent."""
    allowed = {param.name: param for param in endpoint.params}
    try:
        pairs = parse_qsl(query_string, keep_blank_values=True, strict_parsing=False)
    except ValueError as error:  # pragma: no cover - parse_qsl is lenient unless strict
        raise BadRequest(f"malformed query string: {error}") from None
    values: dict[str, int] = {}
    for name, raw in pairs:
        param = allowed.get(name)
        if param is None:
            known = ", ".join(allowed) or "none"
            raise BadRequest(f"unknown parameter {name!r} (accepted: {known})", param=name)
        if name in values:
            raise BadRequest(f"parameter {name!r} given more than once", param=name)
        values[name] = _parse_int(param, raw)
    for param in endpoint.params:
        values.setdefault(param.name, param.default)
    return values


def _parse_int(param: Param, raw: str) -> int:
    text = raw.strip()
    # int() accepts "1_000" and surrounding spaces; the API accepts plain digits only.
    if not text.lstrip("-").isdigit() or len(text) > 12:
        raise BadRequest(_range_message(param) + f", got {raw!r}", param.name, param.maximum)
    value = int(text)
    if not param.minimum <= value <= param.maximum:
        raise BadRequest(_range_message(param) + f", got {value}", param.name, param.maximum)
    return value


def cpu_work(n: int) -> int:
    """n iterations of integer arithmetic in pure Python; holds the GIL throughout."""
    checksum = 0
    for i in range(n):
        checksum = (checksum + i * i) % 1_000_003
    return checksum


def hello_body(settings: RowSettings, loop: str | None = None) -> dict[str, Any]:
    """What the row is; ``loop`` (ASGI rows) names the event loop that answered."""
    row = settings.row
    body = {
        "message": "hello",
        "service": row.name,
        "framework": row.framework,
        "interface": row.interface,
        "server": row.server,
        "worker_class": row.worker_class,
    }
    if loop is not None:
        body["loop"] = loop
    return body


def running_loop_name() -> str:
    """The event loop running the caller: "uvloop" or "asyncio" (its top-level module).

    Asked of the loop itself rather than read from BENCH_LOOP, so /hello shows
    what the server really runs.
    """
    return type(asyncio.get_running_loop()).__module__.partition(".")[0]


def slept_body(ms: int, how: str) -> dict[str, Any]:
    return {"slept_ms": ms, "how": how}


def cpu_body(n: int, checksum: int) -> dict[str, Any]:
    return {"n": n, "checksum": checksum}


HEALTH_BODY: dict[str, Any] = {"status": "ok"}


def not_found_body(path: str) -> dict[str, Any]:
    return {"error": f"no endpoint at {path}; see docs/endpoints.md"}


def method_not_allowed_body(method: str, path: str) -> dict[str, Any]:
    return {"error": f"method {method} not allowed on {path}; use GET"}
