"""How k6 is invoked: locally, and in the compose stack's container (argv only here)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.k6 import PINNED_K6_VERSION, K6NotFoundError, checked_k6
from bench.loadtest.runner import K6Run, compose_k6_argv, go_gc_env, k6_argv, remote_write_env
from bench.paths import LOADTESTS_DIR

SCRIPT = LOADTESTS_DIR / "three-users.js"


def a_run(run_dir: Path, prometheus_url: str | None = None) -> K6Run:
    return K6Run(
        script=SCRIPT,
        env={"BASE_URL": "http://127.0.0.1:8001", "SERVICE": "flask-sync"},
        run_dir=run_dir,
        testid="run-1",
        prometheus_url=prometheus_url,
        tags={"service": "flask-sync"},
    )


def test_local_k6_is_the_pinned_version() -> None:
    binary, version = checked_k6()
    assert version == PINNED_K6_VERSION == "1.1.0"
    assert binary.name == "k6"


def test_local_argv_tags_env_and_output(tmp_path: Path) -> None:
    argv = k6_argv(Path("/bin/k6"), a_run(tmp_path, "http://127.0.0.1:9090"), tmp_path / "s.json")
    assert argv[:2] == ["/bin/k6", "run"]
    assert "--tag" in argv
    assert "testid=run-1" in argv
    assert "service=flask-sync" in argv
    assert f"SUMMARY_PATH={tmp_path / 's.json'}" in argv
    assert argv[argv.index("-o") + 1] == "experimental-prometheus-rw"
    assert not any(tag.startswith("--system-tags") and "url" in tag.split("=")[1] for tag in argv)
    assert argv[-1] == str(SCRIPT)


def test_compose_argv_maps_paths_into_the_container(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BENCH_RESULTS_DIR", str(tmp_path))
    monkeypatch.delenv("GOGC", raising=False)
    monkeypatch.delenv("GOMEMLIMIT", raising=False)
    run = a_run(tmp_path / "20261124-three-users-all" / "flask-sync", "http://127.0.0.1:9090")
    argv = compose_k6_argv(["docker", "compose"], run)
    assert argv[:7] == ["docker", "compose", "--profile", "load", "run", "--rm", "--no-deps"]
    service = argv.index("k6")
    assert argv[service + 1] == "run"
    assert "K6_PROMETHEUS_RW_TREND_AS_NATIVE_HISTOGRAM=true" in argv[:service]
    assert "K6_PROMETHEUS_RW_STALE_MARKERS=true" in argv[:service]
    assert "GOGC=off" in argv[:service]
    assert "SUMMARY_PATH=/results/20261124-three-users-all/flask-sync/.summary.json.k6" in argv
    assert argv[-1] == "/loadtests/three-users.js"


def test_compose_argv_refuses_paths_the_container_cannot_see(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BENCH_RESULTS_DIR", str(tmp_path / "results"))
    with pytest.raises(K6NotFoundError, match="the k6 container only sees"):
        compose_k6_argv(["docker", "compose"], a_run(tmp_path / "elsewhere"))


def test_k6_collects_garbage_only_near_a_memory_limit() -> None:
    gib = 2**30
    assert go_gc_env({}, 24 * gib) == {"GOGC": "off", "GOMEMLIMIT": "4096MiB"}
    assert go_gc_env({}, 8 * gib) == {"GOGC": "off", "GOMEMLIMIT": "2048MiB"}
    # What the user set wins, whole: no half-applied default.
    assert go_gc_env({"GOGC": "200"}, 24 * gib) == {}
    assert go_gc_env({"GOMEMLIMIT": "1GiB"}, 24 * gib) == {}


def test_remote_write_pushes_native_histograms_and_marks_series_stale_at_the_end() -> None:
    env = remote_write_env("http://127.0.0.1:9090/")
    assert env["K6_PROMETHEUS_RW_SERVER_URL"] == "http://127.0.0.1:9090/api/v1/write"
    assert env["K6_PROMETHEUS_RW_TREND_AS_NATIVE_HISTOGRAM"] == "true"
    # Without it "k6 virtual users" repeats a finished run's VUs for 5 minutes
    # (tests/test_dashboards_live.py checks the series really goes stale).
    assert env["K6_PROMETHEUS_RW_STALE_MARKERS"] == "true"
