"""`bench matrix --k6-instances 2`: every load step split across two k6 processes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bench.loadtest.runner import SUMMARY_FILE
from tests.test_matrix_live import bench

pytestmark = pytest.mark.live

RATE = 40.0


def read_json(path: Path) -> Any:
    return json.loads(path.read_text())


def test_a_split_step_offers_its_rate_and_merges_its_instances(tmp_path: Path) -> None:
    done = bench(
        tmp_path,
        "matrix", "--rows", "fastapi-async", "--workloads", "io", "--rates", f"{RATE:g}",
        "--step-seconds", "3", "--repeats", "1", "--seed", "1", "--run-id", "split",
        "--k6-instances", "2",
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    run_dir = tmp_path / "split"
    data = read_json(run_dir / "results.json")
    assert data["run"]["k6_instances"] == 2
    [step] = [s for s in data["steps"] if s["offered_rps"] == RATE]
    step_dir = run_dir / step["directory"]
    merged = read_json(step_dir / SUMMARY_FILE)
    parts = [read_json(step_dir / f"instance-{i}" / SUMMARY_FILE) for i in (1, 2)]
    assert merged["merged"]["instances"] == 2
    for name in ("http_reqs", "served_in_window"):
        counts = [p["metrics"][name]["values"]["count"] for p in parts]
        assert merged["metrics"][name]["values"]["count"] == sum(counts), name
        assert min(counts) > 0, name  # both instances sent their share
    [level] = [
        lv for c in data["figures"]["combos"] for lv in c["levels"] if lv["offered_rps"] == RATE
    ]
    assert level["throughput_rps"] == pytest.approx(RATE, rel=0.15), level
