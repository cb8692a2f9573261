"""The generated dashboard, read through Grafana's own schema (grafana-foundation-sdk).

bench/dashboards.py writes plain dictionaries; Grafana's Foundation SDK
carries the dashboard schema as typed models, generated from Grafana's own
definitions (cog). Decoding our JSON into its Dashboard model and encoding it
again keeps every field the schema knows: a field that does not survive is
one Grafana's schema does not have (a typo, a wrong nesting), which Grafana
would silently ignore. The SDK does not check value types (a string where a
number belongs survives), so this is a check of names and nesting only.
"""

from __future__ import annotations

import json
from typing import Any

from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.cog.plugins import register_default_plugins
from grafana_foundation_sdk.models.dashboard import Dashboard

from bench.dashboards import dashboard

# Fields we write on purpose that this schema version does not model: Grafana
# itself stores `definition` (the query as shown in the variables list) for
# query variables, as its exported dashboards do (k6's 18030 has it too).
NOT_IN_THE_SCHEMA = frozenset({"definition"})


def lost_fields(ours: Any, theirs: Any, path: str = "") -> list[str]:
    """Where ``theirs`` lacks or changed something ``ours`` has (extra defaults are fine)."""
    if isinstance(ours, dict):
        if not isinstance(theirs, dict):
            return [f"{path}: became {theirs!r}"]
        lost = []
        for key, value in ours.items():
            if key not in theirs:
                if key not in NOT_IN_THE_SCHEMA:
                    lost.append(f"{path}.{key} dropped")
                continue
            lost += lost_fields(value, theirs[key], f"{path}.{key}")
        return lost
    if isinstance(ours, list):
        if not isinstance(theirs, list) or len(ours) != len(theirs):
            return [f"{path}: list became {theirs!r}"]
        return [
            lost
            for i, (mine, other) in enumerate(zip(ours, theirs, strict=True))
            for lost in lost_fields(mine, other, f"{path}[{i}]")
        ]
    return [] if ours == theirs else [f"{path}: {ours!r} became {theirs!r}"]


def round_trip(board: dict[str, Any]) -> dict[str, Any]:
    register_default_plugins()  # the panel types' option models (timeseries, table, ...)
    model = Dashboard.from_json(board)
    encoded: dict[str, Any] = json.loads(JSONEncoder().encode(model))
    return encoded


def test_the_dashboard_survives_grafanas_schema() -> None:
    board = dashboard()
    lost = lost_fields(board, round_trip(board))
    assert not lost, "\n".join(lost)


def test_the_check_catches_a_field_grafana_does_not_know() -> None:
    board = dashboard()
    board["panels"][1]["fieldConfig"]["defaults"]["colour"] = {"mode": "fixed"}
    lost = lost_fields(board, round_trip(board))
    assert any(".fieldConfig.defaults.colour dropped" in item for item in lost), lost
