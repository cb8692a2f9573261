"""Figures with intervals from a run's repeats, and the rule that ranks two of them.

Every figure of a verdict is the median of its repeats (one per round: the
rounds visit the rows in a new order each time, so each repeat saw the
machine at another moment). Its interval is the range of the repeats,
widened to at least +-h around the median, h chosen so that two rows with
identical distributions have non-overlapping intervals in about one
comparison in 200 (``FALSE_RANKING``): a range of three repeats alone is too
narrow by chance too often (one comparison in ten).

h needs the noise of the figure, which three repeats measure poorly. So the
pair's own spread is pooled with the run's typical one (the median over
every pair of the variance of its repeats, in logarithms: a row at 10
requests/s and one at 2,000 count alike), weighted as ``PRIOR_DEGREES``
repeats' worth: the moderated variance of empirical-Bayes tests, as in
limma. A noisy pair keeps a wide interval; a pair that happened to repeat
itself exactly still gets the run's typical one.

Two figures are ranked only when their intervals do not overlap.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from scipy.stats import chi2
from scipy.stats import t as student_t

FALSE_RANKING = 0.005
PRIOR_DEGREES = 4
# The median of a few repeats is about 1.2 times as variable as their mean.
MEDIAN_INEFFICIENCY = 1.2


@dataclass(frozen=True)
class Estimate:
    """A figure over its repeats: the median and its interval.

    ``low`` and ``high`` are None where the run cannot bound the figure: no
    noise measured (one repeat), or, for ``high``, a figure that is only a
    lower bound (the row was never pushed past it).
    """

    value: float
    low: float | None
    high: float | None
    repeats: int
    at_least: bool = False

    def half_width(self) -> float | None:
        """Relative half-width of the interval, in logarithms (0.05: about +-5%)."""
        if not self.low or not self.high:
            return None
        return (math.log(self.high) - math.log(self.low)) / 2


def pooled_log_sigma(groups: Iterable[Sequence[float]]) -> float | None:
    """The run's typical noise: the median of every group's variance of log(repeat).

    Each group's variance is divided by the median of its chi-square
    distribution, so that for groups of one noise the estimate is unbiased;
    the median, not the mean, so that a few groups far noisier than the rest
    (a row that behaves differently every round) do not widen everyone
    else's interval: their own spread widens theirs. None when no group has
    two positive repeats: the run measured no noise.
    """
    scaled = []
    for group in groups:
        logs = [math.log(value) for value in group if value > 0]
        degrees = len(logs) - 1
        if degrees < 1:
            continue
        mean = statistics.fmean(logs)
        variance = sum((x - mean) ** 2 for x in logs) / degrees
        scaled.append(variance / (float(chi2.median(degrees)) / degrees))
    return math.sqrt(statistics.median(scaled)) if scaled else None


def moderated_sigma(logs: Sequence[float], pooled: float) -> tuple[float, int]:
    """The pair's noise: its own spread pooled with the run's; and its degrees of freedom."""
    own = len(logs) - 1
    squares = sum((x - statistics.fmean(logs)) ** 2 for x in logs) if own > 0 else 0.0
    degrees = PRIOR_DEGREES + own
    return math.sqrt((PRIOR_DEGREES * pooled**2 + squares) / degrees), degrees


def floor_half_width(sigma: float | None, repeats: int, degrees: int | None = None) -> float | None:
    """The least relative half-width (in logarithms) of an interval from ``repeats`` repeats.

    Two medians of the same distribution differ by a normal variable of
    standard deviation sqrt(2) x 1.2 x sigma / sqrt(repeats); intervals of
    +-h overlap unless that difference exceeds 2h. With sigma estimated on
    ``degrees`` degrees of freedom, Student's t sets h for FALSE_RANKING.
    """
    if sigma is None or repeats < 1:
        return None
    quantile = float(student_t.ppf(1 - FALSE_RANKING / 2, degrees or PRIOR_DEGREES))
    spread_of_difference = math.sqrt(2) * MEDIAN_INEFFICIENCY * sigma / math.sqrt(repeats)
    return quantile * spread_of_difference / 2


def estimate(
    samples: Sequence[float], sigma: float | None, *, at_least: bool = False
) -> Estimate | None:
    """Median and interval of ``samples`` (positive figures); None without any.

    ``sigma`` is the run's pooled noise of the figure; None (nothing
    repeated in the run) leaves the interval unknown.
    """
    values = sorted(value for value in samples if value > 0)
    if not values:
        return None
    middle = statistics.median(values)
    if sigma is None:
        return Estimate(middle, None, None, len(values), at_least)
    own, degrees = moderated_sigma([math.log(v) for v in values], sigma)
    floor = floor_half_width(own, len(values), degrees)
    assert floor is not None
    low = min(values[0], middle * math.exp(-floor))
    high = None if at_least else max(values[-1], middle * math.exp(floor))
    return Estimate(middle, low, high, len(values), at_least)


def separated(faster: Estimate, slower: Estimate) -> bool:
    """Whether ``faster`` is above ``slower`` beyond both intervals."""
    if faster.low is None or slower.high is None:
        return False
    return faster.low > slower.high


def ratio_interval(a: Estimate, b: Estimate) -> tuple[float | None, float | None]:
    """The range of a / b that both intervals allow (None: unbounded on that side)."""
    low = a.low / b.high if a.low is not None and b.high else None
    high = a.high / b.low if a.high is not None and b.low else None
    return low, high


def at_most_apart(a: Estimate, b: Estimate) -> float | None:
    """How far apart two overlapping figures can be, at most (1.08: within 8%)."""
    low, high = ratio_interval(a, b)
    if low is None or high is None:
        return None
    return max(high, 1 / low)
