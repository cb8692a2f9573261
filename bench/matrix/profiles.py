"""How long and how thoroughly `bench matrix` measures: the `quick` and `full` profiles."""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Profile:
    name: str
    probe_seconds: float  # one VU, back to back: warm-up and unloaded service time
    step_seconds: float  # one offered rate
    repeats: int  # the whole ladder, again, in a new random order of workloads
    # First rates tried, as fractions of the predicted knee (it is re-aimed
    # after every level within the SLO); each at least `growth` times the last.
    factors: tuple[float, ...]
    growth: float  # the least step up; past the last factor, the rate grows by this
    beyond_knee: int  # saturated levels to run above the first one (shows the collapse)
    knee_resolution: float  # bisect while last-past / last-within rate is above this
    max_levels: int  # per ladder, a hard bound whatever the prediction
    max_rate: float  # requests per second; k6 on one core stays honest below this
    min_rate: float

    def with_overrides(
        self, step_seconds: float | None = None, repeats: int | None = None
    ) -> Profile:
        return replace(
            self,
            step_seconds=self.step_seconds if step_seconds is None else step_seconds,
            repeats=self.repeats if repeats is None else repeats,
        )

    def estimated_steps(self, ladders: int) -> int:
        """Steps a run of ``ladders`` row x workload pairs should take (the progress total)."""
        per_ladder = len(self.factors) + self.beyond_knee + 1
        return ladders * (1 + self.repeats * per_ladder)


QUICK = Profile(
    name="quick",
    probe_seconds=1.0,
    step_seconds=1.0,
    repeats=1,
    factors=(0.6, 1.2),
    growth=2.0,
    beyond_knee=0,
    knee_resolution=1.5,
    max_levels=5,
    max_rate=3000.0,
    min_rate=0.5,
)

FULL = Profile(
    name="full",
    probe_seconds=5.0,
    step_seconds=15.0,
    repeats=3,
    factors=(0.25, 0.5, 0.75, 1.0),
    growth=1.3,
    beyond_knee=1,
    knee_resolution=1.1,
    max_levels=14,
    max_rate=3000.0,
    min_rate=0.5,
)

PROFILES = {profile.name: profile for profile in (QUICK, FULL)}
