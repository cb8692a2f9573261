"""Which cores the services and the load generator run on, so they do not fight."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass


@dataclass(frozen=True)
class CoreSplit:
    services: frozenset[int] | None
    load: frozenset[int] | None

    def describe(self) -> str:
        if self.services is None or self.load is None:
            return "not pinned (fewer than 2 usable cores)"
        return f"services on cores {sorted(self.services)}, k6 on cores {sorted(self.load)}"


def split_cores() -> CoreSplit:
    """Half the usable cores for the services, the rest for k6 (2 cores: one each)."""
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < 2:
        return CoreSplit(None, None)
    half = len(cores) // 2
    return CoreSplit(frozenset(cores[:half]), frozenset(cores[half:]))


@contextmanager
def on_cores(cpus: frozenset[int] | None) -> Iterator[None]:
    """Run the block with this process on ``cpus``: what it starts inherits them."""
    if cpus is None:
        yield
        return
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, cpus)
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


def parse_cpu_list(text: str) -> frozenset[int]:
    """A Linux CPU list as taskset and cpuset take it: '2', '0,2', '4-7', '0-1,6'."""
    cores: set[int] = set()
    for part in text.split(","):
        low, sep, high = part.strip().partition("-")
        if not low.isdigit() or (sep and not high.isdigit()):
            raise ValueError(f"{text!r} is not a CPU list such as 0-3 or 1,3")
        first, last = int(low), int(high) if sep else int(low)
        if last < first:
            raise ValueError(f"{text!r}: range {part!r} runs backwards")
        cores.update(range(first, last + 1))
    return frozenset(cores)


def share_cores(cores: frozenset[int], instances: int) -> list[frozenset[int]]:
    """Each of ``instances`` load generators gets its own cores where there are enough.

    Contiguous, as equal as possible shares (5 cores, 2 instances: 3 and 2);
    with fewer cores than instances, instances take turns on them (4
    instances on cores 0-1: 0, 1, 0, 1) and share.
    """
    if not cores:
        raise ValueError("no cores to share")
    ordered = sorted(cores)
    if instances > len(ordered):
        return [frozenset({ordered[i % len(ordered)]}) for i in range(instances)]
    base, extra = divmod(len(ordered), instances)
    shares = []
    start = 0
    for i in range(instances):
        size = base + (1 if i < extra else 0)
        shares.append(frozenset(ordered[start : start + size]))
        start += size
    return shares
