"""Suite-wide rules: in CI a skipped test is a failed test."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.database import seeded_database

# .ci/run sets this: a skip there means something the suite needs is missing.
FAIL_ON_SKIP = os.environ.get("SAB_FAIL_ON_SKIP", "") == "1"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    outcome = yield
    report = outcome.get_result()
    if FAIL_ON_SKIP and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped in CI (SAB_FAIL_ON_SKIP=1): {report.longrepr}"


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real, seeded PostgreSQL for the session (started here unless BENCH_DATABASE_URL)."""
    with seeded_database(tmp_path_factory.mktemp("postgres")) as url:
        yield url
