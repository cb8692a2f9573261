"""One fixed colour per row on every dashboard panel, from the row registry.

Grafana's default palette colours series by their order in each panel's
result, so the same row changed colour from panel to panel, and a row's
dashed capacity or slots line got another colour than its solid line. Here
every row gets its own colour, and a panel's overrides match every series
whose name starts with the row's name (all legends start with
``{{service}}``), so the row's capacity, slots, p95 and p99 lines share it.

The colours are matplotlib's tab20, its ten strong colours first (tab10)
then their ten light twins, in row order; bench/matrix/charts.py draws with
the same row_colours(), so the report's charts and the dashboard agree. A
21st row starts the palette again: a colour then stands for two rows.
"""

from __future__ import annotations

import re
from typing import Any

from services.rows import ROWS

# matplotlib's "tab20", even entries (= tab10) then odd ones (the light
# twins); tests/test_dashboards_static.py checks them against matplotlib.
PALETTE = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
    "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5",
    "#c49c94", "#f7b6d2", "#c7c7c7", "#dbdb8d", "#9edae5",
)  # fmt: skip

# A row name is also a regex here: keep it free of regex syntax.
_PLAIN_NAME = re.compile(r"[a-z0-9-]+")


def row_colours() -> dict[str, str]:
    """Row name -> colour, in row order; every row has one, however many there are."""
    return {row.name: PALETTE[index % len(PALETTE)] for index, row in enumerate(ROWS)}


def series_of_row(name: str) -> str:
    """A regex for the row's series names: the name alone or followed by a space."""
    if not _PLAIN_NAME.fullmatch(name):
        raise ValueError(f"row name {name!r} would not be a literal regex")
    return f"^{name}( .*)?$"


def colour_overrides() -> list[dict[str, Any]]:
    """Field overrides giving every known row's series its fixed colour."""
    return [
        {
            "matcher": {"id": "byRegexp", "options": series_of_row(name)},
            "properties": [{"id": "color", "value": {"mode": "fixed", "fixedColor": colour}}],
        }
        for name, colour in row_colours().items()
    ]


def service_cell_override(field: str = "service") -> dict[str, Any]:
    """A table column of row names, each written in its row's colour."""
    mappings = {
        name: {"color": colour, "index": index}
        for index, (name, colour) in enumerate(row_colours().items())
    }
    return {
        "matcher": {"id": "byName", "options": field},
        "properties": [
            {"id": "mappings", "value": [{"type": "value", "options": mappings}]},
            {"id": "custom.cellOptions", "value": {"type": "color-text"}},
        ],
    }
