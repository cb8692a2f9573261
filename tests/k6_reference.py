"""Grafana's official k6 dashboards, read from the shared reference data.

The JSON (grafana.com 18030 and 19665, from grafana/xk6-output-prometheus-remote,
AGPL-3.0) is reference data outside this repository and is never copied into
it. It lives in ``shared/ref/k6-dashboards/`` beside the repository: found
from SAB_K6_DASHBOARDS_DIR, else next to this checkout, else next to the
repository a CI clone was made from (its `origin` is a local path).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

from bench.paths import REPO_ROOT

ENV_VAR = "SAB_K6_DASHBOARDS_DIR"
RELATIVE = Path("shared") / "ref" / "k6-dashboards"
NATIVE_HISTOGRAM_FILE = "k6-prometheus-native-histogram.json"  # grafana.com 18030
TREND_STATS_FILE = "k6-prometheus.json"  # grafana.com 19665


def _origin_checkout() -> Path | None:
    result = subprocess.run(
        ["git", "-C", str(REPO_ROOT), "config", "--get", "remote.origin.url"],
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )
    url = result.stdout.strip().removeprefix("file://")
    return Path(url) if url.startswith("/") else None


def candidates() -> list[Path]:
    if os.environ.get(ENV_VAR):
        return [Path(os.environ[ENV_VAR])]
    found = [REPO_ROOT.parent / RELATIVE]
    origin = _origin_checkout()
    if origin is not None:
        found.append(origin.parent / RELATIVE)
    return found


def reference_dir() -> Path:
    """The directory with both dashboards, or an error naming every place looked in."""
    tried = candidates()
    for directory in tried:
        if (directory / NATIVE_HISTOGRAM_FILE).is_file():
            return directory
    raise FileNotFoundError(
        f"Grafana's k6 dashboards ({NATIVE_HISTOGRAM_FILE}) not found in "
        + ", ".join(str(d) for d in tried)
        + f": set {ENV_VAR} to the directory holding them"
    )


def load(name: str) -> dict[str, Any]:
    board: dict[str, Any] = json.loads((reference_dir() / name).read_text())
    return board


def panel_targets(board: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(panel title, target) for every query target, rows' nested panels included."""
    found = []
    stack = list(board["panels"])
    while stack:
        panel = stack.pop(0)
        stack.extend(panel.get("panels", []))
        found.extend((panel.get("title", ""), t) for t in panel.get("targets", []) if t.get("expr"))
    return found
