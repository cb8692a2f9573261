"""The rows' HTTP contract as an OpenAPI 3 document, for schemathesis.

The FastAPI rows switch FastAPI's own /openapi.json off (services/fastapi_app)
and their handlers read the raw query through the one parser every row shares
(services/workload.parse_params), so FastAPI could not describe their
parameters anyway. This document is written from the same table the rows
route, services/endpoints.py: every path, its bounded integer parameters and
the JSON each answer carries. ``caps`` lowers a parameter's maximum so that
generated requests stay short (ms up to 60 s would make each example last a
minute); the full ranges are checked by tests/test_bad_input.py and
tests/test_query_parser_properties.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from services.endpoints import ENDPOINTS, HEALTH_PATH, Endpoint, Param
from services.rows import Interface

INTEGER = {"type": "integer"}
STRING = {"type": "string"}


def _object(**properties: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "required": sorted(properties), "properties": properties}


ERROR = {
    **_object(error=STRING),
    "properties": {"error": STRING, "param": STRING, "max": INTEGER},
}
SLEPT = _object(slept_ms=INTEGER, how=STRING)
DB_SLEPT = _object(slept_ms=INTEGER, driver=STRING)
ITEM = _object(id=INTEGER, name=STRING, score=INTEGER, created=STRING, driver=STRING)


def _answer(path: str, interface: Interface) -> dict[str, Any]:
    """The JSON schema of a 200 answer on ``path``."""
    if path == "/hello":
        names = ["message", "service", "framework", "interface", "server", "worker_class"]
        names += ["loop"] if interface == "asgi" else []
        return _object(**dict.fromkeys(names, STRING))
    if path == "/cpu":
        return _object(n=INTEGER, checksum=INTEGER)
    if path == "/downstream":
        return _object(downstream_ms=INTEGER, downstream=STRING)
    if path.endswith("/sleep"):
        return DB_SLEPT
    if path.endswith("/query"):
        return ITEM
    return SLEPT


def _parameter(param: Param, caps: Mapping[str, int]) -> dict[str, Any]:
    maximum = min(param.maximum, caps.get(param.name, param.maximum))
    return {
        "name": param.name,
        "in": "query",
        "required": False,
        "description": f"{param.unit}, default {param.default}",
        "schema": {"type": "integer", "minimum": param.minimum, "maximum": maximum},
    }


def _json(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _operation(endpoint: Endpoint, interface: Interface, caps: Mapping[str, int]) -> dict[str, Any]:
    return {
        "get": {
            "operationId": endpoint.path.strip("/").replace("/", "_"),
            "summary": endpoint.summary,
            "parameters": [_parameter(param, caps) for param in endpoint.params],
            "responses": {
                "200": _json("the work was done", _answer(endpoint.path, interface)),
                "400": _json("a parameter the endpoint refuses, named in the answer", ERROR),
                # Refused by the server before the app sees it: gunicorn's
                # limit_request_line (4094 bytes) on the gunicorn rows.
                "414": {"description": "a request line longer than the server accepts"},
            },
        }
    }


def openapi_schema(interface: Interface, caps: Mapping[str, int] | None = None) -> dict[str, Any]:
    """OpenAPI 3.0 for the rows of ``interface`` (services/endpoints.py's table)."""
    caps = caps or {}
    paths = {
        endpoint.path: _operation(endpoint, interface, caps)
        for endpoint in ENDPOINTS
        if interface in endpoint.interfaces
    }
    paths[HEALTH_PATH] = {
        "get": {
            "operationId": "health",
            "responses": {"200": _json("alive", _object(status=STRING))},
        }
    }
    return {
        "openapi": "3.0.3",
        "info": {"title": f"sync-async-bench rows ({interface})", "version": "1"},
        "paths": paths,
    }
