"""A failing test leaves nothing running: the helpers stop what they started on every exit.

A throwaway test module starts a row, the latency service and a real
Prometheus with the suite's own helpers, notes their pids, then fails (an
assertion, and in a second run an exception nobody catches). It runs in a
pytest subprocess; afterwards none of those processes, nor any process of
their groups, may be alive.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from bench.paths import REPO_ROOT

pytestmark = pytest.mark.live

FAILING_MODULE = """
import json, os
from pathlib import Path
from bench.procs import running_latency_service, running_row
from bench.prometheus import running_prometheus

def test_fails_with_everything_up(tmp_path):
    config = tmp_path / "prometheus.yml"
    config.write_text("global:\\n  scrape_interval: 15s\\nscrape_configs: []\\n")
    with running_latency_service(tmp_path) as latency_url, \\
         running_row("flask-sync", tmp_path, latency_url, workers=2) as row, \\
         running_prometheus(config, tmp_path):
        import psutil
        me = psutil.Process()
        pids = [child.pid for child in me.children(recursive=True)]
        Path(os.environ["SAB_PIDS_FILE"]).write_text(json.dumps(pids))
        {failure}
"""
FAILURES = {
    "assertion": "assert False, 'a test that fails'",
    "exception": "raise RuntimeError('a bug in the test')",
}


def _alive(pids: list[int]) -> list[int]:
    alive = []
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                alive.append(pid)
        except psutil.NoSuchProcess:
            continue
    return alive


@pytest.mark.parametrize("failure", list(FAILURES))
def test_a_failing_test_leaves_no_process_behind(tmp_path: Path, failure: str) -> None:
    module = tmp_path / "test_throwaway.py"
    module.write_text(FAILING_MODULE.replace("{failure}", FAILURES[failure]))
    pids_file = tmp_path / "pids.json"
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(module)],
        env={**os.environ, "SAB_PIDS_FILE": str(pids_file)},
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "1 failed" in result.stdout, result.stdout
    pids = json.loads(pids_file.read_text())
    assert len(pids) >= 4  # latency, the gunicorn master and its two workers, Prometheus
    assert _alive(pids) == []
