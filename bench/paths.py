"""Where the project keeps things on disk."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
LOADTESTS_DIR = REPO_ROOT / "loadtests"
PROMETHEUS_DIR = REPO_ROOT / "prometheus"
GRAFANA_DIR = REPO_ROOT / "grafana"


def results_dir() -> Path:
    """Root of every run's results (override with BENCH_RESULTS_DIR)."""
    return Path(os.environ.get("BENCH_RESULTS_DIR", REPO_ROOT / "results"))


def state_dir() -> Path:
    """Pid files, logs and generated configs of the native stack (BENCH_STATE_DIR)."""
    return Path(os.environ.get("BENCH_STATE_DIR", REPO_ROOT / ".run"))
