"""How fast the service cores ran, sampled all through a run: the machine's drift, measured.

A shared VM's cores do not run at one speed: on this project's build VMs a
fixed piece of Python work takes 20-30% longer in some seconds than in
others, and the drift lasts seconds to tens of seconds, so it lands on one
step and not the next. A CPU-bound row's throughput moves with it.

A probe process per service core does a fixed unit of pure-Python work
(about 0.25 ms) every 25 ms and writes how much CPU time the unit took:
about 1% of the core. Measured beside flask-sync serving /cpu, the row's
requests per CPU-second in one-second windows followed the probe's speed
with a correlation of 0.93; dividing them by it cut their spread from 11%
to 4% (docs/bench.md, "The machine's speed").
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

from bench.procs import signal_then_kill

SAMPLES_FILE = "speed.tsv"
UNIT_ITERATIONS = 2000
PERIOD_S = 0.025
FLUSH_EVERY = 40  # samples: about once a second
MIN_SAMPLES = 8  # in a step, for its speed to count
STOP_TIMEOUT_S = 5.0


def unit_of_work(iterations: int = UNIT_ITERATIONS) -> int:
    """The same kind of work as /cpu: integer arithmetic in the interpreter's loop."""
    checksum = 0
    for i in range(iterations):
        checksum = (checksum + i * i) % 1_000_003
    return checksum


def sample(path: Path, core: int | None) -> None:
    """Append "epoch-seconds core unit-cpu-seconds" lines to ``path`` until SIGTERM."""
    if core is not None:
        os.sched_setaffinity(0, {core})
    stopping = False

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the matrix stops us, after its last step
    label = "-" if core is None else str(core)
    lines: list[str] = []
    with path.open("a") as out:
        while not stopping:
            started = time.time()
            before = time.thread_time()
            unit_of_work()
            # Thread CPU time: a moment the core spent on the row is not counted.
            lines.append(f"{started:.3f} {label} {time.thread_time() - before:.7f}\n")
            if len(lines) >= FLUSH_EVERY:
                out.writelines(lines)
                out.flush()
                lines.clear()
            time.sleep(PERIOD_S)
        out.writelines(lines)


@contextmanager
def running_speed_probe(run_dir: Path, cores: frozenset[int] | None) -> Iterator[Path]:
    """One probe per service core (one unpinned probe when nothing is pinned)."""
    path = run_dir / SAMPLES_FILE
    path.touch()
    command = [sys.executable, "-m", "bench.matrix.speed", str(path)]
    pinned: list[list[str]] = [[*command, "--core", str(core)] for core in sorted(cores or ())]
    processes = [
        subprocess.Popen(argv, stdin=subprocess.DEVNULL, start_new_session=True)
        for argv in pinned or [command]
    ]
    try:
        yield path
    finally:
        for process in processes:
            signal_then_kill(process, signal.SIGTERM, STOP_TIMEOUT_S)


def load_samples(run_dir: Path) -> list[tuple[float, float]]:
    """(epoch seconds, unit CPU seconds) of every sample of the run; none if it had no probe."""
    path = run_dir / SAMPLES_FILE
    if not path.is_file():
        return []
    samples = []
    for line in path.read_text().splitlines():
        parts = line.split()
        if len(parts) == 3:
            try:
                samples.append((float(parts[0]), float(parts[2])))
            except ValueError:
                continue  # a line cut short when the probe was killed
    samples.sort()
    return samples


def unit_seconds_between(
    samples: list[tuple[float, float]], start: float, end: float
) -> float | None:
    """The median unit time in [start, end]: the service cores' speed during a step."""
    inside = [unit for when, unit in samples if start <= when <= end]
    return statistics.median(inside) if len(inside) >= MIN_SAMPLES else None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Sample the speed of one core until SIGTERM.")
    parser.add_argument("path", type=Path)
    parser.add_argument("--core", type=int)
    args = parser.parse_args(argv)
    sample(args.path, args.core)


if __name__ == "__main__":
    main()
