"""The report renders from recorded data alone: a small real run is checked in as test data.

tests/data/matrix-run/ is a `bench matrix --rows flask-sync fastapi-async
--workloads io --rates 5,15 --step-seconds 2 --repeats 3 --control flask-sync --seed 3`
run (logs left out). If the analysis changes on purpose, record it again with
that command and copy results.json, speed.tsv and steps/ here.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from bench.matrix.markdown import fmt_estimate, fmt_ratio
from bench.matrix.report import render_report
from bench.matrix.stats import Estimate

SAMPLE = Path(__file__).parent / "data" / "matrix-run"


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    copy = tmp_path / "run"
    shutil.copytree(SAMPLE, copy)
    return copy


def load(run_dir: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((run_dir / "results.json").read_text())
    return data


def test_rendering_recomputes_the_recorded_figures(run_dir: Path) -> None:
    recorded = load(run_dir)["figures"]
    render_report(run_dir)
    assert load(run_dir)["figures"] == recorded


def test_rendering_writes_every_chart_the_report_links(run_dir: Path) -> None:
    report = render_report(run_dir).read_text()
    for chart in ("io-capacity", "io-throughput", "io-latency", "io-saturation", "io-loop-lag"):
        assert f"(charts/{chart}.png)" in report
        assert (run_dir / "charts" / f"{chart}.png").read_bytes().startswith(b"\x89PNG")


def test_the_report_states_the_recorded_figures(run_dir: Path) -> None:
    report = render_report(run_dir).read_text()
    data = load(run_dir)
    figures = data["figures"]
    assert "`bench matrix --profile quick --rows flask-sync fastapi-async" in report
    assert "--control flask-sync" in report
    for combo in figures["combos"]:
        capacity = fmt_estimate(Estimate(**combo["capacity"]))
        assert f"| {combo['row']} | {capacity} |" in report
        fidelity = (
            f"| {fmt_ratio(combo['capacity_ratio'])} | {fmt_ratio(combo['delivered_at_knee'])} |"
        )
        assert fidelity in report
    for step in figures["steps"]:
        assert f"| {step['id']} | {step['repeat']} | {step['row']} | io |" in report
    verdict = next(line for line in report.splitlines() if line.startswith("On `/io?ms=100`"))
    assert "fastapi-async has a higher capacity than flask-sync" in verdict
    assert "Indistinguishable in this run: flask-sync" in verdict
    [sync] = [c for c in figures["combos"] if c["row"] == "flask-sync"]
    assert f"flask-sync: capacity {fmt_estimate(Estimate(**sync['capacity']))} rps" in verdict
    assert "limited by worker slots" in verdict


def test_every_ranking_is_separated_and_every_other_pair_is_a_tie(run_dir: Path) -> None:
    render_report(run_dir)
    data = load(run_dir)
    by_row = {v["row"]: v for v in data["verdicts"]}
    for claim in data["rankings"]:
        faster, slower = by_row[claim["faster"]], by_row[claim["slower"]]
        assert faster["capacity_rps_interval"][0] > slower["capacity_rps_interval"][1]
        assert claim["ratio_interval"][0] > 1.0
    assert not any(
        {claim["faster"], claim["slower"]} == {"flask-sync", "flask-sync-control"}
        for claim in data["rankings"]
    )


def test_a_run_with_no_finished_level_still_renders(run_dir: Path) -> None:
    data = load(run_dir)
    data["steps"] = [step for step in data["steps"] if step["kind"] == "probe"][:1]
    data["run"]["complete"] = False
    data["run"]["stopped_because"] = "interrupted (Ctrl-C)"
    (run_dir / "results.json").write_text(json.dumps(data))
    report = render_report(run_dir).read_text()
    assert "INCOMPLETE (interrupted (Ctrl-C)), 1 steps" in report
