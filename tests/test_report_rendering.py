"""The report renders from recorded data alone: a small real run is checked in as test data.

tests/data/matrix-run/ is a `bench matrix --rows flask-sync fastapi-async
--workloads io --rates 5,15 --step-seconds 2` run (logs left out). If the
analysis changes on purpose, record it again with that command and copy
results.json and steps/ here.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from bench.matrix.report import fmt_ratio, fmt_rps, render_report

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
    for chart in ("io-throughput", "io-latency", "io-saturation", "io-loop-lag"):
        assert "![" in report
        assert f"(charts/{chart}.png)" in report
        assert (run_dir / "charts" / f"{chart}.png").read_bytes().startswith(b"\x89PNG")


def test_the_report_states_the_recorded_figures(run_dir: Path) -> None:
    report = render_report(run_dir).read_text()
    figures = load(run_dir)["figures"]
    assert "`bench matrix --profile quick --rows flask-sync fastapi-async" in report
    for combo in figures["combos"]:
        assert f"| {combo['row']} | {fmt_rps(combo['max_sustainable_rps'])} |" in report
        fidelity = f"| {fmt_ratio(combo['delivered_at_knee'])} | {fmt_ratio(combo['knee_ratio'])} |"
        assert fidelity in report
    for step in figures["steps"]:
        assert f"| {step['id']} | {step['row']} | io |" in report
    verdict = next(line for line in report.splitlines() if line.startswith("On `/io?ms=100`"))
    assert "fastapi-async sustained the most within the SLO" in verdict
    [sync] = [combo for combo in figures["combos"] if combo["row"] == "flask-sync"]
    assert f"flask-sync: {fmt_rps(sync['max_sustainable_rps'])} rps within the SLO" in verdict
    assert f"at most {fmt_rps(sync['max_throughput_rps'])} rps served" in verdict
    assert "limited by worker slots" in verdict


def test_a_run_with_no_finished_level_still_renders(run_dir: Path) -> None:
    data = load(run_dir)
    data["steps"] = [step for step in data["steps"] if step["kind"] == "probe"][:1]
    data["run"]["complete"] = False
    data["run"]["stopped_because"] = "interrupted (Ctrl-C)"
    (run_dir / "results.json").write_text(json.dumps(data))
    report = render_report(run_dir).read_text()
    assert "INCOMPLETE (interrupted (Ctrl-C)), 1 steps" in report
