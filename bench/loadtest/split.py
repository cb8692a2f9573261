"""One k6 test split across N k6 processes (execution segments), merged into one result.

Each instance writes its own summary and log under ``<row>/instance-<i>/``;
the merged summary goes where a single k6 writes it, ``<row>/summary.json``,
so everything that reads a run's summary reads the whole run.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from bench.atomic import write_json_atomically
from bench.loadtest.merge import TREND_STATS, merge_summaries, text_summary
from bench.loadtest.runner import SUMMARY_FILE, K6Result, K6Run, run_k6_instances
from bench.loadtest.segments import INSTANCE_TAG, Segment, segments
from bench.procs import LOOPBACK, free_port


@dataclass(frozen=True)
class SplitResult:
    instances: list[K6Result]
    segments: list[Segment]
    cpus: list[frozenset[int] | None]
    summary: dict[str, Any]
    summary_path: Path
    title: str

    @property
    def exit_code(self) -> int:
        return max(result.exit_code for result in self.instances)

    @property
    def thresholds_passed(self) -> bool:
        return self.exit_code == 0

    @property
    def missing(self) -> list[int]:
        """Instances that wrote no summary (killed, crashed)."""
        return [
            s.index for s, r in zip(self.segments, self.instances, strict=True) if not r.summary
        ]

    @property
    def partial(self) -> bool:
        return any(result.partial for result in self.instances) or bool(self.missing)

    @property
    def failure(self) -> str | None:
        """Why the run has no whole result although nothing of ours stopped it, or None."""
        failed = [
            (segment.index, result.failure)
            for segment, result in zip(self.segments, self.instances, strict=True)
            if result.failure
        ]
        if len(self.instances) == 1 or not failed:
            return failed[0][1] if failed else None
        return "; ".join(f"instance {index}: {failure}" for index, failure in failed)

    @property
    def started_at(self) -> str:
        return min(result.started_at for result in self.instances)

    @property
    def ended_at(self) -> str:
        return max(result.ended_at for result in self.instances)

    @property
    def stopped_by(self) -> str | None:
        """ "interrupt", "timeout", or None when every instance ended on its own."""
        return next((r.stopped_by for r in self.instances if r.stopped_by), None)

    @property
    def k6_version(self) -> str:
        return self.instances[0].k6_version

    def stdout_summary(self) -> str:
        """One instance: what the script printed. Several: the merged summary's lines."""
        if len(self.instances) == 1:
            return self.instances[0].stdout_summary()
        if not self.summary:
            return f"{self.title}: no instance wrote a summary\n"
        text = text_summary(self.summary, self.title)
        if self.missing:
            text += f"  (instances {self.missing} wrote no summary: not included)\n"
        return text

    def instance_records(self, relative_to: Path) -> list[dict[str, Any]]:
        return [
            {
                INSTANCE_TAG: segment.index,
                "execution_segment": segment.segment,
                "execution_segment_sequence": segment.sequence,
                "cpus": sorted(cpus) if cpus is not None else None,
                "exit_code": result.exit_code,
                "partial": result.partial,
                "started_at": result.started_at,
                "ended_at": result.ended_at,
                "summary": str(result.summary_path.relative_to(relative_to)),
            }
            for segment, cpus, result in zip(self.segments, self.cpus, self.instances, strict=True)
        ]


def instance_runs(
    base: K6Run, count: int, cpus: list[frozenset[int]] | None = None
) -> tuple[list[Segment], list[K6Run]]:
    """The K6Runs of ``count`` instances of ``base``, tagged and segmented as k6-operator does."""
    parts = segments(count)
    runs = []
    for segment in parts:
        runs.append(
            replace(
                base,
                run_dir=base.run_dir if count == 1 else base.run_dir / f"instance-{segment.index}",
                segment=segment,
                tags={**base.tags, INSTANCE_TAG: str(segment.index)},
                cpus=cpus[segment.index - 1] if cpus else base.cpus,
                # Several instances: each reports the quantile grid the merge needs.
                trend_stats=TREND_STATS if count > 1 else base.trend_stats,
                # As k6-operator's runners each have their own (one per pod).
                api_address=f"{LOOPBACK}:{free_port()}" if count > 1 else base.api_address,
            )
        )
    return parts, runs


def run_split(
    base: K6Run,
    count: int,
    *,
    timeout_s: float,
    title: str,
    cpus: list[frozenset[int]] | None = None,
) -> SplitResult:
    """Run ``base`` as ``count`` k6 instances at once and merge their summaries."""
    parts, runs = instance_runs(base, count, cpus)
    results = run_k6_instances(runs, timeout_s=timeout_s)
    summary_path = base.run_dir / SUMMARY_FILE
    if count == 1:
        summary = results[0].summary
    else:
        written = [result.summary for result in results if result.summary]
        summary = merge_summaries(written) if written else {}
        if summary:
            write_json_atomically(summary_path, summary)
    return SplitResult(
        instances=results,
        segments=parts,
        cpus=[run.cpus for run in runs],
        summary=summary,
        summary_path=summary_path,
        title=title,
    )
