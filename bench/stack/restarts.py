"""What supervisord restarted, or gave up on, and why: read from its own log.

supervisord logs every exit it did not cause ("exited: NAME (terminated by
SIGKILL; not expected)"), restarts the program, and logs "gave up: NAME
entered FATAL state, ..." once a program died too soon after each of its
start retries. A program that starts fine but keeps dying is stopped by the
restart-cap listener (bench/stack/restart_cap.py), which logs its own "gave
up:" line. Exits that `bench down` or `supervisorctl stop` cause are logged
as "stopped:" instead, so they never count here. Only the lines of the
supervisord run in question count: the logs are kept across `up`s.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from bench.stack.logs import log_path, tail_lines
from bench.stack.supervisor_conf import RESTART_CAP, supervisord_log_path

# Enough for thousands of events; the log of one run is small.
MAX_LOG_LINES = 20_000

_STARTED = re.compile(r"supervisord started with pid (?P<pid>\d+)$")
_EXITED = re.compile(r"^(?P<at>\S+ \S+?)(?:,\d+)? \w+ exited: (?P<name>\S+) \((?P<reason>[^;)]+);")
_GAVE_UP = re.compile(r"^(?P<at>\S+ \S+?)(?:,\d+)? \w+ gave up: (?P<name>\S+) entered FATAL state")
_CAPPED = re.compile(
    r"^(?P<at>\S+ \S+?)(?:,\d+)? CAP gave up: (?P<name>\S+) (?P<why>exited .*); stopped"
)
TOO_SOON = "FATAL: it died too soon after each restart"


@dataclass(frozen=True)
class Exit:
    at: str  # supervisord's local timestamp, to the second
    reason: str  # "exit status 0", "terminated by SIGKILL", ...


@dataclass
class ProgramRestarts:
    """The exits supervisord did not cause, for one program, oldest first."""

    name: str
    exits: list[Exit] = field(default_factory=list)
    gave_up_at: str | None = None
    gave_up_because: str = TOO_SOON

    def summary(self) -> str:
        """One line for `bench status` and `bench logs`."""
        count = len(self.exits)
        times = "once" if count == 1 else f"{count} times"
        last = self.exits[-1] if self.exits else None
        why = f"last: {last.reason} at {last.at}" if last else "no exit logged"
        if self.gave_up_at is not None:
            return (
                f"{self.name} exited unexpectedly {times}; supervisord gave up at "
                f"{self.gave_up_at} ({self.gave_up_because}); {why}"
            )
        return f"{self.name} exited unexpectedly {times} and was restarted by supervisord; {why}"


def restarts(state_dir: Path, supervisord_pid: int | None = None) -> dict[str, ProgramRestarts]:
    """Every program with an unexpected exit in supervisord's current (or last) run.

    ``supervisord_pid`` picks the run that pid started; None means the last
    run in the log (also after `bench down`, for `bench logs`).
    """
    lines = _current_run(
        tail_lines(supervisord_log_path(state_dir), MAX_LOG_LINES), supervisord_pid
    )
    found = parse_restarts(lines)
    # The cap's lines of this run: at or after supervisord's first line of it.
    since = lines[0][:23] if lines else ""
    for line in tail_lines(log_path(state_dir, RESTART_CAP), MAX_LOG_LINES):
        capped = _CAPPED.match(line)
        if capped and line[:23] >= since:
            program = found.setdefault(capped["name"], ProgramRestarts(capped["name"]))
            program.gave_up_at = capped["at"]
            program.gave_up_because = f"stopped by the restart cap: it {capped['why']}"
    return found


def _current_run(lines: list[str], supervisord_pid: int | None) -> list[str]:
    start = 0
    for index, line in enumerate(lines):
        match = _STARTED.search(line)
        if match and (supervisord_pid is None or int(match["pid"]) == supervisord_pid):
            start = index
    return lines[start:]


def parse_restarts(lines: Iterable[str]) -> dict[str, ProgramRestarts]:
    found: dict[str, ProgramRestarts] = {}
    for line in lines:
        if exited := _EXITED.match(line):
            program = found.setdefault(exited["name"], ProgramRestarts(exited["name"]))
            program.exits.append(Exit(exited["at"], exited["reason"]))
        elif gave_up := _GAVE_UP.match(line):
            program = found.setdefault(gave_up["name"], ProgramRestarts(gave_up["name"]))
            program.gave_up_at = gave_up["at"]
    return found
