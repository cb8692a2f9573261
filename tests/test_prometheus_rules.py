"""prometheus/: the config, the recording rules and their unit tests, through real promtool."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from bench.paths import PROMETHEUS_DIR
from services.rows import ROWS

RULE_FILES = sorted((PROMETHEUS_DIR / "rules").glob("*.yml"))
RULE_TESTS = sorted((PROMETHEUS_DIR / "tests").glob("*.yml"))


def promtool(*args: str | Path, cwd: Path = PROMETHEUS_DIR) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("promtool")
    assert binary, "promtool not on PATH (Debian package `prometheus`)"
    return subprocess.run(
        [binary, *map(str, args)], capture_output=True, text=True, timeout=60, check=False, cwd=cwd
    )


def test_the_config_is_valid_and_loads_the_rules() -> None:
    # promtool resolves rule_files relative to the config, as Prometheus does.
    result = promtool("check", "config", PROMETHEUS_DIR / "prometheus.yml", cwd=Path("/"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{len(RULE_FILES)} rule files found" in result.stdout


def test_every_row_is_scraped_every_second_under_its_name() -> None:
    config = yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text())
    assert config["global"]["scrape_interval"] == "1s"
    assert config["global"]["scrape_timeout"] == "800ms"  # below the interval
    scraped = {
        group["labels"]["service"]: group["targets"]
        for job in config["scrape_configs"]
        for group in job["static_configs"]
        if "service" in group.get("labels", {})
    }
    # Docker service names on the metrics port (app port + 1000).
    assert scraped == {row.name: [f"{row.name}:{row.metrics_port}"] for row in ROWS}
    jobs = {job["job_name"] for job in config["scrape_configs"]}
    assert "prometheus" in jobs


def test_the_rules_are_valid() -> None:
    assert RULE_FILES
    result = promtool("check", "rules", *RULE_FILES)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("test_file", RULE_TESTS, ids=lambda path: path.name)
def test_the_rule_unit_tests_pass(test_file: Path) -> None:
    result = promtool("test", "rules", test_file.relative_to(PROMETHEUS_DIR))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_every_recording_rule_has_a_unit_test() -> None:
    tested = "\n".join(path.read_text() for path in RULE_TESTS)
    recorded = {
        line.split("record:", 1)[1].strip()
        for path in RULE_FILES
        for line in path.read_text().splitlines()
        if line.strip().startswith("- record:")
    }
    assert recorded
    untested = {name for name in recorded if f"expr: {name}" not in tested}
    assert not untested, f"recording rules without a promql_expr_test: {sorted(untested)}"
