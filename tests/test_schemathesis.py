"""schemathesis against every FastAPI row's real server: no 5xx, answers match the schema.

The schema is the rows' contract (tests/openapi_contract.py, from
services/endpoints.py). Two passes, each bounded to MAX_EXAMPLES per
operation: positive data within lowered maxima (so ms never sleeps long)
must get a 200 matching its schema; negative data against the real bounds
(strings, out-of-range numbers, ...) must get a 4xx. Every row needs what
its endpoints call: a real PostgreSQL (tests/conftest.py) and the latency
service.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
import schemathesis
from schemathesis import Case

from bench.procs import RunningRow, running_latency_service, running_row
from services.endpoints import ENDPOINTS_BY_PATH
from services.rows import ROWS
from services.workload import BadRequest, parse_params
from tests.openapi_contract import openapi_schema

pytestmark = pytest.mark.live

FASTAPI_ROWS = [row for row in ROWS if row.framework == "fastapi"]
MAX_EXAMPLES = 12
REQUEST_TIMEOUT_S = 10.0
# Short enough that every positive example stays quick (ms is milliseconds).
CAPS = {"ms": 20, "n": 20_000}

positive = schemathesis.openapi.from_dict(openapi_schema("asgi", caps=CAPS))
positive.config.generation.update(modes=["positive"], max_examples=MAX_EXAMPLES)


def _with_parameters(schema: dict[str, Any]) -> dict[str, Any]:
    """Only the operations that take parameters: the others have no invalid input to make."""
    paths = {path: item for path, item in schema["paths"].items() if item["get"].get("parameters")}
    return {**schema, "paths": paths}


negative = schemathesis.openapi.from_dict(_with_parameters(openapi_schema("asgi")))
negative.config.generation.update(modes=["negative"], max_examples=MAX_EXAMPLES)


@pytest.fixture(scope="module")
def latency_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with running_latency_service(tmp_path_factory.mktemp("latency")) as url:
        yield url


@pytest.fixture(scope="module", params=FASTAPI_ROWS, ids=[row.name for row in FASTAPI_ROWS])
def fastapi_row(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    latency_url: str,
    database_url: str,
) -> Iterator[RunningRow]:
    workdir: Path = tmp_path_factory.mktemp(request.param.name)
    with running_row(
        request.param.name, workdir, latency_url, database_url=database_url
    ) as running:
        yield running


@positive.parametrize()
def test_valid_requests_get_answers_that_match_the_schema(
    case: Case, fastapi_row: RunningRow
) -> None:
    response = case.call_and_validate(base_url=fastapi_row.base_url, timeout=REQUEST_TIMEOUT_S)
    assert response.status_code == 200, response.text


def _valid_for_the_rows(case: Case) -> bool:
    """Whether the rows' own parser accepts the query (encoded as requests will send it)."""
    query = {key: value for key, value in (case.query or {}).items() if value is not None}
    try:
        parse_params(ENDPOINTS_BY_PATH[case.path], urlencode(query, doseq=True))
    except BadRequest:
        return False
    return True


@negative.parametrize()
def test_invalid_requests_are_refused_with_a_4xx(case: Case, fastapi_row: RunningRow) -> None:
    if _valid_for_the_rows(case):
        # Negative generation sometimes yields valid input (ms=13454 once): not
        # a negative case, and it would sleep that long.
        return
    response = case.call_and_validate(base_url=fastapi_row.base_url, timeout=REQUEST_TIMEOUT_S)
    assert response.status_code < 500, response.text
