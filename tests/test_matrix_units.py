"""The matrix's pure parts: the knee search, counter arithmetic, argument checks."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bench.matrix.analysis import Level, combos, latency_outside_app, predict, warnings
from bench.matrix.figures import StepFigures
from bench.matrix.ladder import (
    CAPACITY_OVERLOAD,
    LEVEL_TOLERANCE,
    MAX_ESCALATION,
    MIN_ESCALATION,
    Ladder,
    Outcome,
    first_step_limit,
    mild_overload,
)
from bench.matrix.profiles import FULL, QUICK, Profile
from bench.matrix.prose import verdict
from bench.matrix.series import histogram_quantile, increase, scrapes_within
from bench.procs import free_port


def search(profile: Profile, predicted: float, capacity: float, knee: float) -> list[Outcome]:
    """Run the first round's search against a row that serves at most ``capacity``
    and stays within the SLO up to ``knee``."""
    ladder = Ladder(profile, predicted)
    while (rate := ladder.next_rate()) is not None:
        served = min(rate, capacity)
        overloaded = served < 0.95 * rate
        ladder.record(Outcome(rate, overloaded or rate > knee, overloaded, served))
    return ladder.outcomes


@pytest.mark.parametrize("profile", [QUICK, FULL])
@pytest.mark.parametrize("misprediction", [0.2, 0.7, 1.0, 1.3, 2.5])
@pytest.mark.parametrize("knee_share", [0.45, 0.8, 0.97])
def test_the_search_finds_capacity_and_brackets_the_knee_whatever_the_prediction(
    profile: Profile, misprediction: float, knee_share: float
) -> None:
    capacity = 100.0
    knee = capacity * knee_share
    outcomes = search(profile, capacity * misprediction, capacity, knee)
    assert len(outcomes) <= profile.max_levels
    assert any(o.overloaded for o in outcomes), outcomes
    within = [o.rate for o in outcomes if not o.saturated]
    past = [o.rate for o in outcomes if o.saturated]
    assert within, outcomes
    highest_within = max(within)
    lowest_past = min(rate for rate in past if rate > highest_within)
    assert highest_within <= knee < lowest_past
    # No knee lies above capacity / 0.95: the bracket is judged against that ceiling.
    ceiling = min(lowest_past, capacity / 0.95)
    assert ceiling / highest_within <= profile.knee_resolution**2, outcomes


def test_later_rounds_rerun_the_knee_and_a_mild_overload() -> None:
    ladder = Ladder(QUICK, 100.0)
    for outcome in search(QUICK, 100.0, capacity=100.0, knee=80.0):
        ladder.record(outcome)
    rates = ladder.later_rates()
    assert ladder.knee_rate in rates
    assert ladder.capacity_rate in rates
    assert len(rates) == 2
    # Overloaded, but mildly: at the capacity level, 1.2 x capacity, within the tolerance.
    level = CAPACITY_OVERLOAD * 100.0
    assert level / LEVEL_TOLERANCE <= max(rates) <= level * LEVEL_TOLERANCE


def test_a_deep_first_overload_is_followed_by_a_mild_one() -> None:
    """Predicted at 10x its capacity, the row is first overloaded deeply; the capacity
    level is then measured at 1.2 x what it served, not where it collapsed."""
    outcomes = search(QUICK, predicted=1000.0, capacity=100.0, knee=80.0)
    assert outcomes[0].rate == 1250.0
    assert outcomes[1].rate == pytest.approx(CAPACITY_OVERLOAD * 100.0)
    assert outcomes[1].overloaded
    full = Ladder(FULL, 100.0)
    for outcome in search(FULL, 100.0, capacity=100.0, knee=80.0):
        full.record(outcome)
    assert full.above_knee_rate in full.later_rates()


def test_a_row_that_collapsed_at_the_first_step_is_searched_up_to_its_capacity() -> None:
    """Deeply overloaded, the row served 1% of what was offered (an HTTP client pool
    thrashing); it keeps up at 1.2 x that, so the search aims higher again, below
    the collapse, and finds the capacity level at 1.2 x the capacity."""
    capacity, ladder = 500.0, Ladder(QUICK, 2400.0)
    while (rate := ladder.next_rate()) is not None:
        served = min(rate, capacity) if rate < 2 * capacity else 0.01 * rate
        overloaded = served < 0.95 * rate
        ladder.record(Outcome(rate, overloaded, overloaded, served, served / 600.0))
    assert ladder.outcomes[0].served_rps == pytest.approx(30.0)
    assert ladder.capacity_rps == capacity
    level = ladder.capacity_rate
    assert level is not None
    assert level == pytest.approx(CAPACITY_OVERLOAD * capacity, rel=LEVEL_TOLERANCE - 1)
    assert len(ladder.outcomes) <= QUICK.max_levels


def test_the_first_step_offers_at_most_ten_requests_in_flight_at_the_probes_pace() -> None:
    # A thousand gevent connections over 0.1 s predict 10,000 requests/s; the
    # probe served 9 one at a time: the first step aims at 90.
    assert first_step_limit(10_000.0, 9.0, QUICK) == pytest.approx(90.0)
    assert first_step_limit(40.0, 9.0, QUICK) == 40.0  # four threads: Little's law holds
    assert first_step_limit(None, 9.0, QUICK) == pytest.approx(90.0)  # an event loop
    assert first_step_limit(None, 0.0, QUICK) == QUICK.min_rate


def test_a_row_faster_than_the_highest_rate_is_a_bound() -> None:
    ladder = Ladder(QUICK, 10_000.0)
    outcomes = search(QUICK, 10_000.0, capacity=1e9, knee=1e9)
    for outcome in outcomes:
        ladder.record(outcome)
    assert max(o.rate for o in outcomes) == QUICK.max_rate
    assert ladder.capacity_rps is None
    assert ladder.later_rates() == [QUICK.max_rate]


def test_a_row_past_the_knee_at_every_candidate_is_searched_downwards() -> None:
    outcomes = search(QUICK, predicted=100.0, capacity=100.0, knee=20.0)
    assert any(not o.saturated for o in outcomes), outcomes
    assert min(o.rate for o in outcomes) >= QUICK.min_rate


def test_a_stall_below_what_the_row_served_is_not_its_capacity_level() -> None:
    """A fresh process that stalls (a collection, a slow second) at a low rate after
    keeping up at a higher one: the capacity level is the mild overload above."""
    outcomes = [
        Outcome(1095.0, False, False, 1090.0),
        Outcome(657.0, True, True, 500.0),  # the stall
        Outcome(2000.0, True, True, 1400.0),
        Outcome(1680.0, True, True, 1400.0),
    ]
    assert mild_overload(outcomes) == 1680.0
    assert mild_overload([Outcome(100.0, False, False, 100.0)]) is None


@pytest.mark.parametrize(
    ("cpu_share", "growth"),
    [
        (0.3, MAX_ESCALATION),  # far from busy: the most a later round dares
        (0.95, CAPACITY_OVERLOAD / 0.95),  # nearly busy: just past what it could serve
        (1.0, MIN_ESCALATION),  # busy already, yet kept up: the least step that tells
        (None, MAX_ESCALATION),  # CPU unknown
    ],
)
def test_a_later_round_that_kept_up_at_the_capacity_level_goes_on_up(
    cpu_share: float | None, growth: float
) -> None:
    ladder = Ladder(QUICK, 100.0)
    kept_up = Outcome(150.0, False, False, 150.0, cpu_share)
    assert ladder.escalation_rate(kept_up) == pytest.approx(150.0 * growth, abs=0.01)


def test_every_row_is_measured_at_the_same_depth_of_overload() -> None:
    """A thread pool that serves less the deeper it is overloaded: neither 1.09 x nor
    1.31 x its capacity is the level; the search runs one at 1.2 x."""
    ladder = Ladder(QUICK, 400.0)
    for outcome in [
        Outcome(492.0, True, True, 290.0),
        Outcome(409.0, True, True, 375.0),
    ]:
        ladder.record(outcome)
    assert ladder.capacity_rate is None
    assert ladder.next_rate() == pytest.approx(CAPACITY_OVERLOAD * 375.0)
    ladder.record(Outcome(450.0, True, True, 330.0))
    assert ladder.capacity_rate == 450.0


def test_escalation_stops_at_the_highest_rate_and_never_for_fixed_rates() -> None:
    at_max = Outcome(QUICK.max_rate, False, False, QUICK.max_rate, 0.2)
    assert Ladder(QUICK, 100.0).escalation_rate(at_max) is None
    fixed = Ladder(QUICK, 100.0, fixed_rates=(5.0,))
    assert fixed.escalation_rate(Outcome(5.0, False, False, 5.0, 0.2)) is None
    near = Outcome(QUICK.max_rate * 0.9, False, False, QUICK.max_rate * 0.9, 0.2)
    assert Ladder(QUICK, 100.0).escalation_rate(near) == QUICK.max_rate


def test_fixed_rates_run_exactly_in_order_every_round() -> None:
    ladder = Ladder(QUICK, 100.0, fixed_rates=(5.0, 15.0))
    rates = []
    while (rate := ladder.next_rate()) is not None:
        rates.append(rate)
        ladder.record(Outcome(rate, True, True, 5.0))
    assert rates == [5.0, 15.0]
    assert ladder.later_rates() == [5.0, 15.0]


def test_histogram_quantile_interpolates_like_prometheus() -> None:
    buckets = [(0.1, 50.0), (0.2, 100.0), (math.inf, 100.0)]
    assert histogram_quantile(0.5, buckets) == pytest.approx(0.1)
    assert histogram_quantile(0.75, buckets) == pytest.approx(0.15)
    assert histogram_quantile(0.99, [(0.1, 0.0), (math.inf, 10.0)]) == pytest.approx(0.1)
    assert histogram_quantile(0.99, [(0.1, 0.0), (math.inf, 0.0)]) is None


def test_increase_is_taken_between_two_scrapes_inside_the_step() -> None:
    points = [(9.5, 100.0), (10.5, 110.0), (11.5, 130.0), (12.5, 150.0), (13.5, 190.0)]
    span = scrapes_within(points, start=10.0, end=13.0)
    assert span == (10.5, 12.5)
    change = increase(points, span)
    assert change is not None
    assert change.value == 40.0
    assert change.rate == 20.0
    # A series first scraped inside the step (a route's first request) started from 0.
    assert increase([(12.5, 7.0)], span) is not None
    assert scrapes_within(points, start=10.0, end=10.9) is None


def bench(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bench", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--rows", "flask-async"], "unknown row 'flask-async'"),
        (["--workloads", "sleep"], "unknown workload 'sleep'"),
        (["--rates", "10,fast"], "rates are numbers"),
        (["--rates", "0"], "positive rates"),
        (["--repeats", "0"], "--repeats at least 1"),
        (["--rows", "flask-sync", "--workloads", "io-blocking"], "no row serves"),
        (["--run-id", "../elsewhere"], "plain directory name"),
        (["--stack", "docker", "--workers", "2"], "apply to the native stack"),
        (["--db-pool", "0"], "--db-pool must be at least 1"),
    ],
)
def test_bad_arguments_are_refused_before_anything_runs(
    args: list[str], message: str, tmp_path: Path
) -> None:
    result = bench("matrix", *args, env={**os.environ, "BENCH_RESULTS_DIR": str(tmp_path)})
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_docker_mode_without_the_compose_stack_says_to_start_it(tmp_path: Path) -> None:
    nothing_there = f"http://127.0.0.1:{free_port()}"
    result = bench(
        "matrix",
        "--stack",
        "docker",
        "--prometheus-url",
        nothing_there,
        env={**os.environ, "BENCH_RESULTS_DIR": str(tmp_path)},
    )
    assert result.returncode == 2, result.stderr
    assert f"no Prometheus at {nothing_there}: start the compose stack with `make up`" in (
        result.stderr
    )
    assert list(tmp_path.iterdir()) == []


def test_report_of_a_directory_that_is_not_a_run_says_so(tmp_path: Path) -> None:
    result = bench("report", str(tmp_path))
    assert result.returncode == 2
    assert "results.json does not exist" in result.stderr
    (tmp_path / "results.json").write_text("{not json")
    result = bench("report", str(tmp_path))
    assert result.returncode == 2
    assert "is not valid JSON" in result.stderr
    assert "Traceback" not in result.stderr


def test_report_without_a_run_says_to_run_the_bench_first(tmp_path: Path) -> None:
    result = bench("report", env={**os.environ, "BENCH_RESULTS_DIR": str(tmp_path)})
    assert result.returncode == 2
    assert "no matrix run under" in result.stderr
    assert "run `make bench` first" in result.stderr


def a_step(**changes: Any) -> StepFigures:
    """A load step of fastapi-async on /io at 2500 rps, nothing queued at the row."""
    figures: dict[str, Any] = {
        "id": "0001",
        "row": "fastapi-async",
        "workload": "io",
        "kind": "load",
        "repeat": 0,
        "offered_rps": 2500.0,
        "partial": False,
        "throughput_rps": 2490.0,
        "error_ratio": 0.0,
        "dropped_iterations": 0,
        "mean_ms": 120.0,
        "p50_ms": 101.0,
        "p95_ms": 270.0,
        "p99_ms": 350.0,
        "k6_cpu_cores": 0.6,
        "server_requests": 20000.0,
        "server_rps": 2490.0,
        "server_mean_ms": 101.0,
        "server_p99_ms": 109.0,
        "cpu_cores": 0.6,
        "cpu_ms_per_request": 0.24,
        "concurrency_mean": 250.0,
        "active_mean": 250.0,
        "slots": None,
        "saturation": None,
        "backlog_max": 0.0,
        "loop_lag_p99_ms": 2.0,
        "threadpool_busy_mean": 0.0,
        "threadpool_size": 40.0,
        "threadpool_waiting_mean": 0.0,
        "workers": 1,
        "speed_unit_s": None,
        "saturated": True,
        "overloaded": False,
        "reasons": ("p99 350 ms > SLO 250 ms",),
    }
    return StepFigures(**{**figures, **changes})


def a_level(**changes: Any) -> Level:
    """The level of one such step, as the report sees it."""
    probe = a_step(kind="probe", offered_rps=None, p99_ms=101.0)
    [found], _ = combos([probe, a_step(**changes)], 1)
    [level] = found.levels
    return level


def test_latency_k6_saw_and_the_app_did_not_is_a_warning() -> None:
    step = a_step()
    assert latency_outside_app(a_level(), slo_ms=250, service_cores=1) == pytest.approx(241)
    [found], _ = combos([a_step(kind="probe", offered_rps=None, p99_ms=101.0), step], 1)
    assert any(
        "latency outside the app: fastapi-async io at 2500 rps, k6's p99 up to 241 ms" in warning
        for warning in warnings([step], [found], rounds=1, service_cores=1)
    )


@pytest.mark.parametrize(
    "queued_at_the_row",
    [
        {"backlog_max": 2.0},  # connections waiting to be accepted
        {"saturation": 0.8},  # most slots busy
        {"threadpool_busy_mean": 30.0},  # most threads busy
        {"cpu_cores": 0.97},  # the core is full: requests wait for it
        {"loop_lag_p99_ms": 120.0},  # requests wait for the event loop
        {"loop_lag_p99_ms": None, "cpu_cores": 0.75},  # WSGI: no lag to tell CPU waits by
    ],
)
def test_waiting_the_row_hides_from_its_histogram_is_not_blamed_on_k6(
    queued_at_the_row: dict[str, float],
) -> None:
    assert latency_outside_app(a_level(**queued_at_the_row), 250, 1) is None


def test_a_small_difference_is_the_network_round_trip_not_a_finding() -> None:
    assert latency_outside_app(a_level(p99_ms=140.0), 250, 1) is None


def a_database_row(row: str, slots: float | None, pool: float, **load: Any) -> list[StepFigures]:
    """The probe and one load step of ``row`` on /db/sleep?ms=100 with ``pool`` connections."""
    common: dict[str, Any] = {
        "row": row,
        "workload": "db-sleep",
        "slots": slots,
        "db_pool_size": pool,
        "server_mean_ms": 100.0,
        "loop_lag_p99_ms": None if slots else 2.0,
        "threadpool_busy_mean": None,
        "threadpool_size": None,
    }
    probe = a_step(
        id="0001",
        kind="probe",
        offered_rps=None,
        p99_ms=101.0,
        db_pool_in_use_mean=1.0,
        db_pool_waiting_mean=0.0,
        saturation=1.0 / slots if slots else None,
        **common,
    )
    return [probe, a_step(id="0002", **{"cpu_cores": 0.2, **common, **load})]


def test_the_database_pool_is_a_slot_when_it_is_the_smaller() -> None:
    """Little's law with min(worker slots, pool) on the database workloads."""
    asgi = a_database_row("fastapi-async", None, 10.0)[0]
    assert predict("db-sleep", asgi, 1).littles_law_rps == pytest.approx(100.0)
    threads = a_database_row("flask-threads", 4.0, 2.0)[0]
    assert predict("db-sleep", threads, 1).littles_law_rps == pytest.approx(20.0)
    one_worker = a_database_row("flask-sync", 1.0, 10.0)[0]
    assert predict("db-sleep", one_worker, 1).littles_law_rps == pytest.approx(10.0)
    # Elsewhere a pool the process happens to have is no slot: an event loop stays unbounded.
    on_io = a_step(kind="probe", offered_rps=None, db_pool_size=10.0, workload="io")
    assert predict("io", on_io, 1).littles_law_rps is None


@pytest.mark.parametrize(
    ("row", "load", "limited_by", "evidence"),
    [
        # An event loop: only its 10 connections bound it; a queue formed at the pool.
        (
            ("fastapi-async", None, 10.0),
            {"db_pool_in_use_mean": 6.0, "db_pool_waiting_mean": 8.4},
            "database pool",
            "8.4 requests on average waiting for one of 10 pooled connections",
        ),
        # No queue yet, but the gauge saw the pool nearly full.
        (
            ("fastapi-async", None, 10.0),
            {"db_pool_in_use_mean": 9.0, "db_pool_waiting_mean": 0.1},
            "database pool",
            "90% of 10 pooled connections in use",
        ),
        # 4 threads, 2 connections: the threads are busy waiting for the pool.
        (
            ("flask-threads", 4.0, 2.0),
            {"saturation": 1.0, "db_pool_in_use_mean": 1.95, "db_pool_waiting_mean": 2.0},
            "database pool",
            "2.0 requests on average waiting for one of 2 pooled connections",
        ),
        # One worker, 10 connections: the worker is the limit, the pool is nearly idle.
        (
            ("flask-sync", 1.0, 10.0),
            {"saturation": 0.98, "db_pool_in_use_mean": 0.98, "db_pool_waiting_mean": 0.0},
            "worker slots",
            "98% of the slots busy",
        ),
        # As many slots as connections: no request can wait for the pool.
        (
            ("flask-threads", 4.0, 4.0),
            {"saturation": 0.97, "db_pool_in_use_mean": 3.9, "db_pool_waiting_mean": 0.0},
            "worker slots",
            "97% of the slots busy",
        ),
        # A full CPU holds every connection longer: the queue at the pool follows from it.
        (
            ("fastapi-async", None, 10.0),
            {"cpu_cores": 0.97, "db_pool_in_use_mean": 10.0, "db_pool_waiting_mean": 30.0},
            "CPU",
            "0.97 of 1 core(s) busy",
        ),
        # A lookup: the row uses 0.7 of the core, its PostgreSQL beside it the rest.
        # The queue at the pool follows from the full core, not from the pool.
        (
            ("fastapi-async", None, 10.0),
            {
                "cpu_cores": 0.70,
                "database_cpu_cores": 0.28,
                "db_pool_in_use_mean": 10.0,
                "db_pool_waiting_mean": 150.0,
            },
            "CPU",
            "0.98 of 1 core(s) busy: the row 0.70, PostgreSQL 0.28",
        ),
    ],
)
def test_the_report_names_the_database_pool_when_it_limited_the_row(
    row: tuple[str, float | None, float],
    load: dict[str, float],
    limited_by: str,
    evidence: str,
) -> None:
    name, slots, pool = row  # the row, its worker slots (None: unbounded), its connections
    [found], _ = combos(a_database_row(name, slots, pool, **load), 1)
    assert (found.limited_by, found.evidence) == (limited_by, evidence)
    slot_count = min(slots or pool, pool)
    assert found.slots == slot_count
    assert found.littles_law_rps == pytest.approx(slot_count / 0.1)
    assert found.slots_basis.startswith("worker slots" if slots == slot_count else "database pool")
    sentence = verdict("db-sleep", [found], [], [])
    assert f"limited by {limited_by} ({evidence})" in sentence
    if found.slots_basis.startswith("database pool"):
        assert f"Little's law: {pool:g} pooled connection(s) / 100 ms" in sentence


def test_a_full_pool_is_a_full_queue_not_a_load_generator_warning() -> None:
    steps = a_database_row(
        "fastapi-async",
        None,
        10.0,
        dropped_iterations=50,
        db_pool_in_use_mean=10.0,
        db_pool_waiting_mean=200.0,
    )
    found, _ = combos(steps, 1)
    assert not any("dropped iterations" in w for w in warnings(steps, found, 3, 1))
    idle_pool = a_database_row("fastapi-async", None, 10.0, dropped_iterations=50)
    found, _ = combos(idle_pool, 1)
    assert any("dropped iterations" in w for w in warnings(idle_pool, found, 3, 1))
    # The row idle but its PostgreSQL filling the core: not the load generator's fault.
    busy_database = a_database_row(
        "fastapi-async", None, 10.0, dropped_iterations=50, database_cpu_cores=0.9
    )
    found, _ = combos(busy_database, 1)
    assert not any("dropped iterations" in w for w in warnings(busy_database, found, 3, 1))


def test_a_full_pool_far_below_its_littles_law_rate_is_a_symptom() -> None:
    """10 connections held 100 ms serve 100 rps; a row serving 30 with a queue at
    the pool holds each connection longer for another reason: its busy core."""
    steps = a_database_row(
        "fastapi-async",
        None,
        10.0,
        throughput_rps=30.0,
        cpu_cores=0.76,
        database_cpu_cores=0.12,
        db_pool_in_use_mean=10.0,
        db_pool_waiting_mean=150.0,
    )
    [found], _ = combos(steps, 1)
    assert found.littles_law_rps == pytest.approx(100.0)
    assert (found.limited_by, found.evidence) == (
        "CPU",
        "0.88 of 1 core(s) busy: the row 0.76, PostgreSQL 0.12",
    )
    near = a_database_row(
        "fastapi-async", None, 10.0, throughput_rps=95.0, cpu_cores=0.76,
        db_pool_in_use_mean=10.0, db_pool_waiting_mean=150.0,
    )  # fmt: skip
    [found], _ = combos(near, 1)
    assert found.limited_by == "database pool"
