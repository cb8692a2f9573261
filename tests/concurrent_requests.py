"""Fire N requests at the same moment and time each one (bounded, loopback only)."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import httpx

REQUEST_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Timed:
    status: int
    elapsed_s: float


def fire_together(url: str, count: int, timeout_s: float = REQUEST_TIMEOUT_S) -> list[Timed]:
    """``count`` GETs to ``url``, each on its own connection, released by one barrier."""
    barrier = threading.Barrier(count)

    def one() -> Timed:
        with httpx.Client(timeout=timeout_s) as client:
            barrier.wait(timeout=timeout_s)
            started = time.perf_counter()
            response = client.get(url)
            return Timed(response.status_code, time.perf_counter() - started)

    with ThreadPoolExecutor(max_workers=count) as pool:
        results = [pool.submit(one) for _ in range(count)]
        return [future.result(timeout=timeout_s * 2) for future in results]


def spread(results: list[Timed]) -> float:
    """Slowest over fastest: ~1 when requests overlap, ~count when they serialise."""
    times = sorted(result.elapsed_s for result in results)
    return times[-1] / times[0]
