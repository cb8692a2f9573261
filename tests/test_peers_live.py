"""Every peer metrics library on every row it applies to: it starts, serves the
endpoints, counts them, and its /metrics answers (the contract of bench overhead
--peers' contenders)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from bench.procs import running_row
from services.peers import PEER_METRICS_PATH, PEERS, peers_for
from services.rows import ROWS
from services.settings import SettingsError, load_settings

# A series each library writes for a served request (its README's names; the
# OpenTelemetry HTTP semantic conventions' for OpenTelemetry).
WITNESS = {
    "instrumentator": 'handler="/hello"',
    "starlette-exporter": 'path="/hello"',
    "flask-exporter": 'path="/hello"',
    "django-prometheus": "django_http_responses_total_by_status_total",
    "opentelemetry": "http_server_duration_milliseconds_count",
}
CASES = [(row.name, peer.name) for row in ROWS for peer in peers_for(row.framework)]


def test_every_peer_has_a_witness_and_a_row() -> None:
    assert set(WITNESS) == {peer.name for peer in PEERS}
    assert {peer for _, peer in CASES} == set(WITNESS)


@pytest.mark.live
@pytest.mark.parametrize(("row", "peer"), CASES)
def test_peer_serves_and_counts(row: str, peer: str, tmp_path: Path) -> None:
    with (
        running_row(row, tmp_path, instrumentation=peer) as server,
        httpx.Client(base_url=server.base_url, timeout=10.0) as client,
    ):
        assert client.get("/hello").status_code == 200
        assert client.get("/io", params={"ms": 1}).status_code == 200
        bad = client.get("/io", params={"ms": "-1"})
        assert bad.status_code == 400
        assert "error" in bad.json()
        scrape = client.get(PEER_METRICS_PATH)
    assert scrape.status_code == 200
    assert WITNESS[peer] in scrape.text, scrape.text[:2000]


@pytest.mark.parametrize(
    ("row", "value", "message"),
    [
        ("flask-sync", "instrumentator", "'on', 'off', 'flask-exporter', 'opentelemetry'"),
        ("django-wsgi", "flask-exporter", "'django-prometheus'"),
        ("fastapi-async", "datadog", "'starlette-exporter'"),
    ],
)
def test_a_peer_of_another_framework_is_refused(row: str, value: str, message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        load_settings(row, {"BENCH_INSTRUMENTATION": value})


def test_a_peer_turns_ours_off() -> None:
    settings = load_settings("fastapi-async", {"BENCH_INSTRUMENTATION": "OpenTelemetry "})
    assert settings.peer == "opentelemetry"
    assert not settings.instrumented
    assert settings.exported_env()["BENCH_INSTRUMENTATION"] == "opentelemetry"
