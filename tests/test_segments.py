"""Execution segments as k6-operator writes them, and the cores each instance gets."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.cores import parse_cpu_list, share_cores
from bench.loadtest.merge import TREND_STATS
from bench.loadtest.runner import K6Run, k6_argv
from bench.loadtest.segments import INSTANCE_TAG, segments
from bench.loadtest.split import instance_runs
from bench.paths import LOADTESTS_DIR


def test_segments_are_k6_operators() -> None:
    """grafana/k6-operator pkg/segmentation: index 1 of 4 -> 0:1/4 in 0,1/4,2/4,3/4,1."""
    four = segments(4)
    assert four[0].k6_flags() == [
        "--execution-segment=0:1/4",
        "--execution-segment-sequence=0,1/4,2/4,3/4,1",
    ]
    assert [s.segment for s in four] == ["0:1/4", "1/4:2/4", "2/4:3/4", "3/4:1"]
    assert [s.segment for s in segments(2)] == ["0:1/2", "1/2:1"]
    # parallelism 1: the operator adds no segment flags.
    assert segments(1)[0].k6_flags() == []
    with pytest.raises(ValueError, match="at least 1"):
        segments(0)


def a_run(tmp_path: Path) -> K6Run:
    return K6Run(
        script=LOADTESTS_DIR / "soak.js",
        env={"BASE_URL": "http://127.0.0.1:8004"},
        run_dir=tmp_path / "fastapi-async",
        testid="run-1",
        tags={"service": "fastapi-async"},
    )


def test_instances_get_their_segment_tag_directory_and_the_quantile_grid(tmp_path: Path) -> None:
    parts, runs = instance_runs(a_run(tmp_path), 2, [frozenset({0}), frozenset({1})])
    assert [r.run_dir.name for r in runs] == ["instance-1", "instance-2"]
    assert [r.tags[INSTANCE_TAG] for r in runs] == ["1", "2"]
    assert [r.tags["service"] for r in runs] == ["fastapi-async"] * 2
    assert {r.testid for r in runs} == {"run-1"}
    assert [r.cpus for r in runs] == [frozenset({0}), frozenset({1})]
    argv = k6_argv(Path("/bin/k6"), runs[1], tmp_path / "s.json")
    assert "--execution-segment=1/2:1" in argv
    assert "--execution-segment-sequence=0,1/2,1" in argv
    assert f"{INSTANCE_TAG}=2" in argv
    assert f"--summary-trend-stats={','.join(TREND_STATS)}" in argv
    # Each its own REST API address: side by side they would fight over 6565.
    addresses = {r.api_address for r in runs}
    assert len(addresses) == 2
    assert f"--address={runs[1].api_address}" in argv
    assert parts[1].segment == "1/2:1"


def test_one_instance_runs_as_before_but_tagged(tmp_path: Path) -> None:
    [segment], [run] = instance_runs(a_run(tmp_path), 1)
    assert segment.segment == "0:1"
    assert run.run_dir == tmp_path / "fastapi-async"
    argv = k6_argv(Path("/bin/k6"), run, tmp_path / "s.json")
    flags = ("--execution-segment", "--summary-trend-stats", "--address")
    assert not any(a.startswith(flags) for a in argv)
    assert f"{INSTANCE_TAG}=1" in argv  # as k6-operator tags its single runner
    assert run.cpus is None


def test_cpu_lists_parse_as_taskset_reads_them() -> None:
    assert parse_cpu_list("2") == {2}
    assert parse_cpu_list("0,2") == {0, 2}
    assert parse_cpu_list("4-7") == {4, 5, 6, 7}
    assert parse_cpu_list("0-1, 6") == {0, 1, 6}
    for bad in ("", "a", "3-1", "1-", "-2"):
        with pytest.raises(ValueError, match=r"CPU list|backwards"):
            parse_cpu_list(bad)


def test_cores_are_shared_out_contiguously_or_taken_in_turns() -> None:
    assert share_cores(frozenset(range(5)), 2) == [{0, 1, 2}, {3, 4}]
    assert share_cores(frozenset({2, 3}), 2) == [{2}, {3}]
    assert share_cores(frozenset({0, 1}), 4) == [{0}, {1}, {0}, {1}]
    assert share_cores(frozenset({6}), 1) == [{6}]
    with pytest.raises(ValueError, match="no cores"):
        share_cores(frozenset(), 2)
