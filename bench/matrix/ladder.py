"""The knee search: which offered rate to run next for one row x workload.

It starts from the knee the probe predicts (Little's law and CPU per request),
tries the profile's fractions of it, and keeps raising the rate until the row
saturates; if even the first rate saturates, it halves until one does not. So
each knee is bracketed by a level within the SLO and one past it, measured,
whatever the prediction said; a loose bracket is then narrowed by bisection.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from bench.matrix.profiles import Profile

HALVINGS = 4  # below the first level, at most this many tries to find one within the SLO


@dataclass
class Ladder:
    profile: Profile
    predicted_knee_rps: float
    fixed_rates: tuple[float, ...] = ()  # run exactly these (tests, reruns); no search
    results: list[tuple[float, bool]] = field(default_factory=list)  # (rate, saturated)

    def _clip(self, rate: float) -> float:
        return round(min(self.profile.max_rate, max(self.profile.min_rate, rate)), 2)

    def aim_at(self, predicted_knee_rps: float | None) -> None:
        """A better prediction, from a level within the SLO: later levels follow it."""
        if predicted_knee_rps:
            self.predicted_knee_rps = predicted_knee_rps

    def record(self, rate: float, saturated: bool) -> None:
        self.results.append((rate, saturated))

    @property
    def rates(self) -> list[float]:
        return [rate for rate, _ in self.results]

    def next_rate(self) -> float | None:
        """The next offered rate, or None when the knee is bracketed (or a bound is hit)."""
        if self.fixed_rates:
            done = len(self.results)
            return self.fixed_rates[done] if done < len(self.fixed_rates) else None
        if len(self.results) >= self.profile.max_levels:
            return None
        return self._search()

    def _search(self) -> float | None:
        planned = sorted({self._clip(f * self.predicted_knee_rps) for f in self.profile.factors})
        if not self.results:
            return planned[0]
        within = [rate for rate, saturated in self.results if not saturated]
        past = [rate for rate, saturated in self.results if saturated]
        if not within:
            lowest = min(self.rates)
            lower = self._clip(lowest / 2)
            return lower if lower < lowest and len(past) <= HALVINGS else None
        highest_within = max(within)
        past_knee = [rate for rate in past if rate > highest_within]
        if past_knee and min(past_knee) / highest_within > self.profile.knee_resolution:
            # Bracketed, but loosely: try halfway (geometrically) in between.
            return self._clip(math.sqrt(min(past_knee) * highest_within))
        if len(past_knee) > self.profile.beyond_knee:
            return None
        # At least `growth` above the highest rate so far: a prediction that
        # rises a little with every level (the CPU line sharpens) would
        # otherwise lead the ladder up in small steps until max_levels.
        # Bisection narrows the bracket afterwards.
        grown = self._clip(max(self.rates) * self.profile.growth)
        above = [rate for rate in planned if rate >= grown]
        if above:
            return above[0]
        return grown if grown > max(self.rates) else None
