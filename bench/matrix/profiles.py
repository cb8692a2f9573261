"""How long and how thoroughly `bench matrix` measures: the `quick` and `full` profiles."""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Profile:
    name: str
    probe_seconds: float  # one VU, back to back: warm-up and unloaded service time
    step_seconds: float  # one offered rate
    # Rounds: every row is visited this many times, in a new random order each
    # time, so that its repeats see the machine at different moments. The
    # first visit searches; the others rerun the levels that decide the figures.
    repeats: int
    overload_factor: float  # the first capacity step, x the predicted capacity
    knee_start: float  # the first knee candidate, x the measured capacity
    knee_down: float  # below a candidate past the knee, try this fraction of it
    knee_resolution: float  # bisect while the bracket (past / within) is wider than this
    repeat_above_knee: bool  # later rounds rerun the level above the knee too, not only the knee
    max_levels: int  # per search, a hard bound whatever the prediction
    # Requests per second: k6 spends about 0.3 ms of CPU per request here, so on
    # one core it cannot offer much more than this on time.
    max_rate: float
    min_rate: float

    def with_overrides(
        self, step_seconds: float | None = None, repeats: int | None = None
    ) -> Profile:
        return replace(
            self,
            step_seconds=self.step_seconds if step_seconds is None else step_seconds,
            repeats=self.repeats if repeats is None else repeats,
        )

    def estimated_steps(self, pairs: int) -> int:
        """Steps a run of ``pairs`` row x workload pairs should take (the progress total)."""
        first_round = 1 + 1 + 3  # probe, overload, knee candidates
        later_rounds = 2 + int(self.repeat_above_knee)
        return pairs * (first_round + (self.repeats - 1) * later_rounds)


QUICK = Profile(
    name="quick",
    probe_seconds=1.0,
    step_seconds=1.0,
    repeats=3,
    overload_factor=1.25,
    knee_start=0.8,
    knee_down=0.6,
    knee_resolution=1.6,
    repeat_above_knee=False,
    max_levels=7,
    max_rate=3000.0,
    min_rate=0.5,
)

FULL = Profile(
    name="full",
    probe_seconds=3.0,
    step_seconds=5.0,
    repeats=5,
    overload_factor=1.25,
    knee_start=0.8,
    knee_down=0.7,
    knee_resolution=1.1,
    repeat_above_knee=True,
    max_levels=10,
    max_rate=3000.0,
    min_rate=0.5,
)

PROFILES = {profile.name: profile for profile in (QUICK, FULL)}
