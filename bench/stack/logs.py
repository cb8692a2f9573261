"""Program logs of the native stack: one file per program in the state directory."""

from __future__ import annotations

from collections import deque
from pathlib import Path


def log_dir(state_dir: Path) -> Path:
    return state_dir / "logs"


def log_path(state_dir: Path, program: str) -> Path:
    return log_dir(state_dir) / f"{program}.log"


def tail_lines(path: Path, count: int) -> list[str]:
    """The last ``count`` lines of a log file (empty if there is none)."""
    try:
        with path.open(encoding="utf-8", errors="replace") as file:
            return [line.rstrip("\n") for line in deque(file, maxlen=count)]
    except FileNotFoundError:
        return []
