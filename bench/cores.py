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
