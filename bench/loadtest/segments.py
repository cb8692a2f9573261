"""k6 execution segments: one test split across N k6 instances, as k6-operator splits it.

k6-operator's TestRun with ``parallelism: N`` starts runner ``i`` (1..N) with
``--execution-segment=(i-1)/N:i/N`` and ``--execution-segment-sequence=0,1/N,
...,(N-1)/N,1`` (pkg/segmentation/segmentation.go in grafana/k6-operator),
and tags its metrics ``instance_id=i``. `bench loadtest --instances N` uses
the very same flags and tag, so a run split here and one split by the operator
offer the same load per instance and land in Prometheus with the same labels.
With one instance the operator adds no segment flags, and neither do we.
"""

from __future__ import annotations

from dataclasses import dataclass

# The tag k6-operator gives each runner's metrics (pkg/resources/jobs/runner.go).
INSTANCE_TAG = "instance_id"


@dataclass(frozen=True)
class Segment:
    index: int  # 1-based, as k6-operator numbers its runners
    total: int

    @property
    def segment(self) -> str:
        return f"{_boundary(self.index - 1, self.total)}:{_boundary(self.index, self.total)}"

    @property
    def sequence(self) -> str:
        return ",".join(_boundary(i, self.total) for i in range(self.total + 1))

    def k6_flags(self) -> list[str]:
        if self.total == 1:
            return []
        return [
            f"--execution-segment={self.segment}",
            f"--execution-segment-sequence={self.sequence}",
        ]


def _boundary(i: int, total: int) -> str:
    # Written as k6-operator writes them: "0", "i/N" unreduced (2/4, not 1/2), "1".
    if i == 0:
        return "0"
    if i == total:
        return "1"
    return f"{i}/{total}"


def segments(total: int) -> list[Segment]:
    """The N segments of one run, runner 1 first."""
    if total < 1:
        raise ValueError(f"instances must be at least 1, not {total}")
    return [Segment(index, total) for index in range(1, total + 1)]
