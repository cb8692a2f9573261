"""Which offered rates to run for one row x workload: capacity first, then the knee.

The first round searches:

1. **Capacity.** A step above the capacity the probe predicts: if the row
   keeps up, the next aims past what its CPU share says it could serve
   (served / share of the cores busy), at least 1.5 times higher, until it
   cannot keep up (or the profile's highest rate is reached: the capacity
   is then only a bound). Then the **capacity level**: a mild overload,
   1.2 times the most it served (an overloaded step within 5% of that is
   one), repeated while a level step raises the most served. A row that
   keeps up there was not at its capacity when it was overloaded (it
   collapsed, or stalled): the search aims past it again, below the rate
   that overloaded it. The first step offers at most ten requests in
   flight at the probe's pace (``first_step_limit``). A deep
   overload is not a capacity: queues fill to k6's VU limit, and some rows
   serve less the deeper they are overloaded (a downstream pool contended,
   threads waiting for tokens), so the figure would depend on how far past
   capacity the step happened to land.
2. **Knee.** Candidates below the capacity: the profile's start fraction of
   it, lower after a candidate past the SLO, then bisection of the bracket
   (the highest rate within the SLO, the lowest past it) until it is as
   narrow as the profile asks. No knee can lie above capacity / 0.95: above
   that the row cannot serve 95% of what is offered, so the bracket is
   bisected below that ceiling.

Later rounds rerun only the levels that decide the figures: the capacity
level, the knee and, in the full profile, the level above it. Where the row
keeps up at the capacity level (round 1 was a slow moment of the machine,
or a stall of the fresh process), the round goes on up (``escalation_rate``,
at most ``ESCALATIONS`` steps) until it overloads the row: otherwise a bad
first round would leave every later one measuring a bound.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from bench.matrix.profiles import Profile

MIN_DELIVERED_RATIO = 0.95  # figures.py: below it, a step is past the knee
CAPACITY_OVERLOAD = 1.2  # the capacity level: this much above the most the row served
LEVEL_TOLERANCE = 1.05  # an overloaded step this close to the capacity level is one
MIN_GROWTH, MAX_GROWTH = 1.5, 4.0  # while the row keeps up, the next rate, x the last
# Later rounds start near capacity: they go up more cautiously.
MIN_ESCALATION, MAX_ESCALATION = 1.25, 2.0
ESCALATIONS = 2  # at most this many steps above the capacity level per later round


# The first step offers at most this many requests in flight, at the probe's pace.
FIRST_STEP_IN_FLIGHT = 10


def first_step_limit(predicted: float | None, probe_rps: float, profile: Profile) -> float:
    """The capacity the first step aims past: the prediction, at most FIRST_STEP_IN_FLIGHT probes.

    The probe sends one request at a time, so FIRST_STEP_IN_FLIGHT x its
    throughput is that many requests at once. Where the row has no slots and
    too little CPU to measure (an event loop waiting on I/O), that is the
    prediction; where Little's law counts a thousand gevent connections, or a
    one-second probe misses most of the CPU, it keeps the first step from
    landing so far past the capacity that the row collapses (served 1% of
    3000 requests/s on /downstream) and the step tells nothing.
    """
    limit = max(FIRST_STEP_IN_FLIGHT * probe_rps, profile.min_rate)
    return min(predicted, limit) if predicted else limit


@dataclass(frozen=True)
class Outcome:
    rate: float
    saturated: bool  # past the knee, whatever the reason
    overloaded: bool  # served clearly less than offered: the row was at its capacity
    served_rps: float
    cpu_share: float | None = None  # of the service cores, busy during the step


def mild_overload(outcomes: Sequence[Outcome]) -> float | None:
    """The overloaded rate nearest CAPACITY_OVERLOAD x the capacity, within LEVEL_TOLERANCE.

    The capacity is the most the row served once it could not keep up. Every
    row is measured at the same depth of overload because some serve less the
    deeper they are overloaded (a thread pool on /io/thread served 375
    requests/s at 1.09 x its capacity and 290 at 1.26 x): a level anywhere
    up to 1.4 x once ranked an A/A copy against its original. An overloaded
    step offered less than the capacity was a stall (a collection, a slow
    second of the machine), never the level.
    """
    if not any(o.overloaded for o in outcomes):
        return None
    aim = CAPACITY_OVERLOAD * max(o.served_rps for o in outcomes)
    near = [
        o.rate
        for o in outcomes
        if o.overloaded and aim / LEVEL_TOLERANCE <= o.rate <= aim * LEVEL_TOLERANCE
    ]
    return min(near, key=lambda rate: abs(math.log(rate / aim))) if near else None


@dataclass
class Ladder:
    profile: Profile
    predicted_capacity_rps: float
    fixed_rates: tuple[float, ...] = ()  # run exactly these (tests, reruns); no search
    outcomes: list[Outcome] = field(default_factory=list)

    def _clip(self, rate: float) -> float:
        return round(min(self.profile.max_rate, max(self.profile.min_rate, rate)), 2)

    def record(self, outcome: Outcome) -> None:
        self.outcomes.append(outcome)

    @property
    def rates(self) -> list[float]:
        return [outcome.rate for outcome in self.outcomes]

    @property
    def capacity_rps(self) -> float | None:
        """The most the row served, once it could not keep up (None: it always kept up)."""
        if not any(o.overloaded for o in self.outcomes):
            return None
        return max(o.served_rps for o in self.outcomes)

    @property
    def capacity_rate(self) -> float | None:
        """The capacity level: a mild overload (see ``mild_overload``)."""
        return mild_overload(self.outcomes)

    @property
    def knee_rate(self) -> float | None:
        within = [o.rate for o in self.outcomes if not o.saturated]
        return max(within) if within else None

    @property
    def above_knee_rate(self) -> float | None:
        knee = self.knee_rate
        past = [o.rate for o in self.outcomes if o.saturated and (knee is None or o.rate > knee)]
        return min(past) if past else None

    def next_rate(self) -> float | None:
        """The next offered rate of the first round, or None when it is done."""
        if self.fixed_rates:
            done = len(self.outcomes)
            return self.fixed_rates[done] if done < len(self.fixed_rates) else None
        if len(self.outcomes) >= self.profile.max_levels:
            return None
        if self.capacity_rate is None:
            capacity = self._next_capacity_step()
            if capacity is not None:
                return capacity
        return self._next_knee_candidate()

    def _next_capacity_step(self) -> float | None:
        if not self.outcomes:
            return self._clip(self.profile.overload_factor * self.predicted_capacity_rps)
        capacity = self.capacity_rps
        last = self.outcomes[-1]
        if capacity is not None and last.overloaded:
            # Overloaded, but deeply: the capacity level is a mild overload.
            level = self._clip(CAPACITY_OVERLOAD * capacity)
            return level if level not in self.rates else None
        if capacity is not None:
            # It kept up above where it was overloaded: that overload was a
            # collapse (a row that serves almost nothing when deeply overloaded,
            # an HTTP client pool thrashing) or a stall, not its capacity. Aim
            # past this step as if nothing had overloaded it, but below the
            # lowest rate that did.
            above = [o.rate for o in self.outcomes if o.overloaded and o.rate > last.rate]
            aim = self._aim_past(last, MIN_GROWTH, MAX_GROWTH)
            if aim is not None and above:
                aim = self._clip(min(aim, min(above) / LEVEL_TOLERANCE))
            return aim if aim is not None and aim > last.rate and aim not in self.rates else None
        top = max(self.outcomes, key=lambda o: o.rate)
        return self._aim_past(top, MIN_GROWTH, MAX_GROWTH)

    def escalation_rate(self, kept_up: Outcome) -> float | None:
        """A later round's next rate after a capacity-level step the row kept up with."""
        if self.fixed_rates:
            return None
        return self._aim_past(kept_up, MIN_ESCALATION, MAX_ESCALATION)

    def _aim_past(self, kept_up: Outcome, low: float, high: float) -> float | None:
        """Past what the CPU share of a step the row kept up with says it could serve."""
        if kept_up.rate >= self.profile.max_rate:
            return None  # it kept up at the highest rate: the capacity is only a bound
        growth = high
        if kept_up.cpu_share:
            growth = CAPACITY_OVERLOAD * kept_up.served_rps / kept_up.cpu_share / kept_up.rate
        return self._clip(kept_up.rate * min(high, max(low, growth)))

    def _next_knee_candidate(self) -> float | None:
        capacity = self.capacity_rps
        past = [o.rate for o in self.outcomes if o.saturated]
        knee = self.knee_rate
        if knee is None:
            if not past:
                return None
            candidates = [min(past) * self.profile.knee_down]
            if capacity is not None:
                candidates.append(self.profile.knee_start * capacity)
            lower = self._clip(min(candidates))
            return lower if lower < min(past) else None
        above = self.above_knee_rate
        if above is None:
            return None  # within the SLO at the highest rate tried
        ceiling = min(above, capacity / MIN_DELIVERED_RATIO) if capacity else above
        if ceiling / knee <= self.profile.knee_resolution:
            return None
        middle = self._clip(math.sqrt(knee * ceiling))
        return middle if knee < middle < above and middle not in self.rates else None

    @property
    def capacity_level(self) -> float | None:
        """The level later rounds measure capacity at: the highest they rerun."""
        rates = self.later_rates()
        return max(rates) if rates else None

    def later_rates(self) -> list[float]:
        """The rates every later round reruns."""
        if self.fixed_rates:
            return list(self.fixed_rates)
        rates = set()
        if self.knee_rate is not None:
            rates.add(self.knee_rate)
        if self.profile.repeat_above_knee and self.above_knee_rate is not None:
            rates.add(self.above_knee_rate)
        if self.capacity_rate is not None:
            rates.add(self.capacity_rate)
        elif self.outcomes:
            rates.add(max(self.rates))  # never overloaded: keep measuring the bound
        return sorted(rates)
