"""PromQL over k6's remote-written series that works for sparse runs too.

k6 pushes a series only in a push interval where it got a new sample, and its
counters and native histograms are cumulative from the start of the run. A
series of a sparse run has one sample in all: the seed demo tags each user's
single request, so each user's series holds one request. rate() and
increase() need two samples in their window and show nothing for it; a
dense run has a sample every push and is unaffected. The functions here give
the same answer as rate()/increase() where those work and a correct one for
a series with a single sample.

The counter functions return per-series values without a metric name (`sum
without ()` drops it and keeps every other label), so callers aggregate them
with `sum by (...)`. Native histograms need their own functions: before
Prometheus 2.45 (CI runs Debian's 2.42) last_over_time() returns a
histogram sample's float part only, so the histogram functions below read
histograms only through increase() and instant selectors.
"""

from __future__ import annotations

# Grafana's own variables (docs/dashboards.md, "Variables"): the rate window,
# the same in milliseconds, and the dashboard's whole time range.
RATE_WINDOW = "$__rate_interval"
RATE_WINDOW_SECONDS = "($__rate_interval_ms / 1000)"
WHOLE_RANGE = "$__range"


# Subqueries over the whole range step at the scrape interval, so that no
# push of a short series falls between two steps.
SUBQUERY_STEP = "1s"


def window_increase(selector: str) -> str:
    """What each counter series counted within the rate window.

    increase() where the series has two samples in the window. Otherwise, a
    series whose only sample is in the window and that had none before it
    (within the dashboard range) counted all of it in the push interval that
    sample closes: its value is what it counted, so take it. A series with
    one sample in the window and older ones before is left out, as increase()
    leaves it out: its value is its whole history, not the window's.
    """
    window = f"[{RATE_WINDOW}]"
    earlier = f"[{WHOLE_RANGE}] offset {RATE_WINDOW}"
    return (
        f"(increase({selector}{window})"
        f" or (sum without () (last_over_time({selector}{window}))"
        f" unless sum without () (last_over_time({selector}{earlier}))))"
    )


def window_rate(selector: str) -> str:
    """Per second over the rate window: rate() for dense counters, sparse ones included."""
    return f"{window_increase(selector)} / {RATE_WINDOW_SECONDS}"


def whole_run(selector: str) -> str:
    """Each counter series' last value within the dashboard range: everything its run counted.

    k6 starts every counter and histogram at zero, and a run has its own
    testid, so the last value is the run's total (for a run that started
    before the range: counted from its start). last_over_time skips the
    stale markers k6 writes at the end, so this still answers after the run.
    """
    return f"sum without () (last_over_time({selector}[{WHOLE_RANGE}]))"


def window_quantile(quantile: str, selector: str, by: str) -> str:
    """The quantile of a native histogram's observations within the rate window, per ``by``.

    Where no series of a group has two samples in the window (a sparse run),
    the quantile of the run so far instead: the cumulative histograms as the
    instant selector sees them, every user's request once it has completed.
    Dense groups get exactly what rate() gave.
    """
    return (
        f"histogram_quantile({quantile}, sum by ({by}) (increase({selector}[{RATE_WINDOW}])))"
        f" or histogram_quantile({quantile}, sum by ({by}) ({selector}))"
    )


def whole_run_quantile(quantile: str, selector: str, by: str) -> str:
    """The quantile of every observation of each run, per ``by`` (which must hold testid).

    The run-so-far quantile of the cumulative histograms at the last 1 s step
    where their summed count is the most it ever was in the range: the moment
    before k6's stale markers end the run's series. "The most", not simply
    "the last": a run split across several k6 instances (`bench loadtest
    --instances`, k6-operator) has series that end each with its own
    instance, and at a step after the first one ended the sum would hold
    only the others. A subquery, because Prometheus before 2.45 cannot take
    last_over_time() of a histogram; the maximum is pinned to the end of the
    range (`@ end()`), so it is one figure for every step.
    """
    total = f"sum by ({by}) (histogram_count({selector}))"
    most = f"max_over_time(({total})[{WHOLE_RANGE}:{SUBQUERY_STEP}] @ end())"
    at_most = f"({total}) >= on ({by}) ({most})"
    return (
        f"last_over_time((histogram_quantile({quantile}, sum by ({by}) ({selector}))"
        f" and on ({by}) ({at_most}))[{WHOLE_RANGE}:{SUBQUERY_STEP}])"
    )
