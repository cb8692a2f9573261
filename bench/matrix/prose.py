"""The report's sentences: each states what the figures show, and nothing they do not."""

from __future__ import annotations

import math

from bench.matrix.analysis import DATABASE_POOL, NOT_REACHED, UNCLEAR, Combo, Sigmas
from bench.matrix.markdown import fmt_estimate, fmt_interval, fmt_ms, fmt_rps
from bench.matrix.stats import PRIOR_DEGREES, floor_half_width
from bench.matrix.verdicts import ControlResult, Ranking, Tie
from bench.matrix.workloads import get_workload

PRIMARY_WHY = """\
**Capacity** is the primary figure of every verdict: what the row served
when it could not keep up (k6 offered more than it served). It is a mean
over the whole step, set by the resource that binds (CPU, worker slots,
threads, the database pool, a blocked event loop), with the machine's
speed taken out (see
"The machine's speed" below). The **knee**, the highest offered rate within
the SLO, is what you size by, but it is decided by the 99th percentile of a
short step, which near saturation turns on a handful of slow requests (a
garbage collection, a slow second of a shared VM): it is reported with its
interval and never ranked. **Requests per CPU-second** at full load is the
row's cost per request; times the service cores it gives the *CPU capacity*,
what the row would serve if only its CPU limited it.

Every figure is the median of its rounds (each round starts every row
afresh, in a new order), with an interval: the range of the rounds, never
narrower than the run's noise floor. A row is ranked above another only
when their capacity intervals do not overlap; otherwise the report says
they are indistinguishable in this run, and by how much they can differ at
most."""

METHOD = """\
Each row runs alone, pinned to the service cores (with the latency service
that `/downstream` calls); k6, Prometheus and the harness run on the other
cores. The run goes in **rounds**: each round visits every row once, in a
new random order, starting it afresh, and runs every workload it serves.

**Round 1 searches.** A **probe** (one VU, requests back to back) warms the
row up and measures its unloaded service time S. Then **steps** of constant
offered load (k6 `constant-arrival-rate`, an open model: requests keep
arriving whether or not the row keeps up): the first at 1.25 times the
capacity the probe predicts, then higher (aimed past what the row's share
of the cores says it could serve) until the row serves clearly less than
offered; a mild overload there is its **capacity** level; then candidates
for the **knee** below it, bisected until the highest rate within the SLO
and the lowest past it are close. A step is past the knee when p99 is above
the SLO, more than 1% of requests fail, more than 1% of the iterations are
dropped (k6 had no free VU), or less than 95% of the offered rate is
served. **Later rounds** warm the fresh row up with a few requests and
rerun the levels that decide the figures: the knee and the overload level
(the full profile also the level above the knee).

Served is counted from one service time into the step to its end (the
steady state); latency is k6's, client side ("app p99" is the row's own,
from its histogram); CPU, slots, concurrency, backlog, event-loop lag and
database pool use are the row's own metrics, recorded from Prometheus after each step
(`steps/*/series.json`). A probe on every service core measures how fast
the core ran during each step (`speed.tsv`); throughput is divided by
1 - u + u x speed (u: the share of the service cores the row kept busy) and
CPU per request is multiplied by the speed, so a fast or slow moment of
the machine does not land on one row."""


def noise_paragraph(sigmas: Sigmas, by_workload: dict[str, Sigmas], rounds: int) -> str:
    """The run's measured noise and the interval floor it gives, overall and per workload."""
    sigma = sigmas.get("capacity_rps")
    floor = floor_half_width(sigma, rounds, PRIOR_DEGREES + rounds - 1)
    if sigma is None or floor is None or rounds < 2:
        return (
            "The run measured no noise (one round): no figure has an interval, so nothing is "
            "ranked."
        )
    per_workload = ", ".join(
        f"{workload} {_pct(found.get('capacity_rps'))}"
        for workload, found in sorted(by_workload.items())
    )
    return (
        f"Noise measured by this run: the rounds of a row's capacity spread by "
        f"{sigma:.1%} (standard deviation, pooled over every row and workload, the machine's "
        f"speed taken out); knee {_pct(sigmas.get('knee_rps'))}, requests per CPU-second "
        f"{_pct(sigmas.get('requests_per_cpu_second'))}. With {rounds} rounds, the capacity "
        f"interval of a row as noisy as that is +-{math.expm1(floor):.1%} around its median "
        "(noisier rows get wider ones): wide enough that two rows with identical "
        "distributions are ranked in about 1 comparison in 200."
        + (
            " Each workload's intervals use its own pooled noise (its rows wait on the same "
            f"thing), capacity: {per_workload}."
            if per_workload
            else ""
        )
    )


def _pct(value: float | None) -> str:
    return "not measured" if value is None else f"{value:.1%}"


def control_paragraph(result: ControlResult) -> str:
    """What the A/A control showed: the run's noise floor, or that it cannot be trusted."""
    if not result.ratios:
        return f"A/A control: {result.control} has no capacity to compare with {result.original}."
    floor = result.noise_floor or 0.0
    workloads = ", ".join(f"{w} {ratio:.3f}" for w, ratio in sorted(result.ratios.items()))
    if result.separated:
        return (
            f"**A/A control failed**: {result.control}, an identical copy of {result.original}, "
            f"was ranked against it on {', '.join(result.separated)}: this run's noise is larger "
            "than its intervals say. Do not trust its rankings; run it again on a quieter "
            f"machine. Control / original capacity: {workloads}."
        )
    return (
        f"A/A control: {result.control}, an identical copy of {result.original} measured as "
        f"another row, is indistinguishable from it on every workload. The two came out at "
        f"most {math.expm1(floor):.1%} apart: that is this run's noise floor (control / "
        f"original capacity: {workloads})."
    )


def _limit(c: Combo) -> str:
    if c.limited_by == NOT_REACHED:
        return "never pushed past the knee: the highest rate tried was within the SLO"
    if c.limited_by == UNCLEAR:
        return f"what limited it is unclear ({c.evidence})"
    return f"limited by {c.limited_by} ({c.evidence})"


def _row_sentence(c: Combo) -> str:
    capacity = fmt_estimate(c.capacity)
    sentence = f"{c.row}: capacity {capacity} rps, knee {fmt_estimate(c.knee)} rps"
    if c.above_knee_rps:
        sentence += f" (next level tried: {fmt_rps(c.above_knee_rps)})"
    sentence += f", {_limit(c)}"
    # Little's law only where it is the binding limit, not 100 slots on /hello.
    binding = c.littles_law_rps is not None and c.predicted_capacity_rps == c.littles_law_rps
    if binding and c.slots and c.service_time_ms:
        # The database pool as the slots is worth saying: it is not the row's own.
        slots = (
            f"{c.slots:g} pooled connection(s)"
            if c.slots_basis.startswith(DATABASE_POOL)
            else f"{c.slots:g} slot(s)"
        )
        sentence += (
            f"; Little's law: {slots} / {fmt_ms(c.service_time_ms)} ms "
            f"= {fmt_rps(c.littles_law_rps)} rps"
        )
    return sentence + "."


def verdict(workload: str, combos: list[Combo], ranked: list[Ranking], tied: list[Tie]) -> str:
    """The workload's paragraph: the rankings the run separates, the ties, then each row."""
    endpoint = get_workload(workload).endpoint
    order = sorted(combos, key=lambda c: c.capacity.value if c.capacity else 0.0, reverse=True)
    sentences = []
    mine = [r for r in ranked if r.workload == workload]
    for c in order:
        beaten = [r for r in mine if r.faster == c.row]
        if beaten:
            others = ", ".join(
                f"{r.slower} ({r.ratio:.2f}x, {fmt_interval(*r.ratio_interval)})" for r in beaten
            )
            sentences.append(f"On `{endpoint}`, {c.row} has a higher capacity than {others}.")
    if not mine and len(order) > 1:
        sentences.append(f"On `{endpoint}` this run separates no two rows.")
    apart = [t for t in tied if t.workload == workload]
    if apart:
        pairs = "; ".join(
            f"{t.first} and {t.second} ("
            + ("no interval" if t.at_most is None else f"at most {t.at_most:.2f}x apart")
            + ")"
            for t in apart
        )
        sentences.append(f"Indistinguishable in this run: {pairs}.")
    sentences += [_row_sentence(c) for c in order]
    return " ".join(sentences)
