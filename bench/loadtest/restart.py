"""What a restart cost, read from k6's JSON output: every request's end and outcome.

k6's summary counts failures but not when they happened, nor how a request
failed; its JSON output (``-o json=...``) has one ``http_reqs`` point per
request with its end time, status and k6 error code. From those this module
counts, per run, the requests served, refused (nobody listening), reset
(accepted, then the connection closed without an answer: a request queued
or inside a process that died) and otherwise failed, and how long the row
served nothing.
"""

from __future__ import annotations

import gzip
import itertools
import json
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import suppress
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

# k6 gzips its JSON output when the name ends in .gz: about 100 KB per 1,000 requests.
REQUEST_LOG = "requests.ndjson.gz"
# k6's error codes (k6 lib/netext/httpext/error_codes.go).
REFUSED_CODES = frozenset({"1212"})  # dial: connection refused
RESET_CODES = frozenset({"1201", "1220"})  # broken pipe, reset by peer
TIMEOUT_CODES = frozenset({"1050", "1211"})  # request timeout, dial timeout
GENERIC_CODE = "1000"  # k6's catch-all: an EOF (closed without an answer) is one
OUTCOMES = ("served", "refused", "reset", "timeout", "http_error", "other")
_FRACTION = re.compile(r"(\.\d{6})\d+")


@dataclass(frozen=True)
class RequestEnd:
    at: float  # Unix time, seconds
    outcome: str  # one of OUTCOMES


@dataclass(frozen=True)
class RestartFigures:
    """One row, one fault: what the clients saw."""

    row: str
    fault: str  # the signal's name, e.g. "SIGTERM"
    sent: int
    served: int
    refused: int
    reset: int
    timeout: int
    http_error: int
    other: int
    dropped: int  # arrivals k6 could not send (no free VU): load the row never saw
    unavailable_s: float | None  # longest stretch without a served request after the fault
    respawned_after_s: float | None  # signal to a new server process (the harness saw it)
    served_after_fault: int

    @property
    def failed(self) -> int:
        return self.sent - self.served

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "failed": self.failed}


def parse_time(text: str) -> float:
    """k6's RFC 3339 time (nanoseconds, any offset) as Unix seconds."""
    return datetime.fromisoformat(_FRACTION.sub(r"\1", text).replace("Z", "+00:00")).timestamp()


def classify(tags: dict[str, str]) -> str:
    code = tags.get("error_code", "")
    if code in REFUSED_CODES:
        return "refused"
    if code in RESET_CODES or (code == GENERIC_CODE and "EOF" in tags.get("error", "")):
        return "reset"
    if code in TIMEOUT_CODES:
        return "timeout"
    status = tags.get("status", "0")
    if not code and status == "200":
        return "served"
    if not code and status != "0":
        return "http_error"
    return "other"


def request_ends(lines: Iterable[str]) -> Iterator[RequestEnd]:
    """The scenario's requests in k6's JSON output (setup's health check left out)."""
    for line in lines:
        if '"http_reqs"' not in line:
            continue  # cheap filter: most lines are other metrics
        try:
            point = json.loads(line)
        except json.JSONDecodeError:
            continue  # the last line of a k6 that was killed mid-write
        if point.get("type") != "Point" or point.get("metric") != "http_reqs":
            continue
        data = point["data"]
        tags = data.get("tags") or {}
        if tags.get("name") == "setup":
            continue
        yield RequestEnd(parse_time(data["time"]), classify(tags))


def read_request_ends(run_dir: Path) -> list[RequestEnd]:
    """Every request of a run, over all its k6 instances, in order of their end."""
    ends: list[RequestEnd] = []
    for path in sorted(run_dir.rglob(REQUEST_LOG)):
        # A log cut short (k6 killed) ends in EOFError: keep the requests read so far.
        with gzip.open(path, "rt", errors="replace") as lines, suppress(EOFError, OSError):
            ends.extend(request_ends(lines))
    return sorted(ends, key=lambda end: end.at)


def longest_outage(ends: list[RequestEnd], fault_at: float) -> float | None:
    """The longest time without a served request, among stretches that end after ``fault_at``.

    A stretch runs from one served request to the next; the first starts at
    the last one served before the fault (or at the fault if none was). If
    the row never served again it runs to the last request's end, a lower
    bound. None: no request at all.
    """
    if not ends:
        return None
    served = [end.at for end in ends if end.outcome == "served"]
    before = [at for at in served if at <= fault_at]
    after = [at for at in served if at > fault_at]
    start = before[-1] if before else fault_at
    if not after:
        return max(ends[-1].at, fault_at) - start
    edges = [start, *after]
    return max(later - earlier for earlier, later in itertools.pairwise(edges))


def restart_figures(
    row: str,
    fault: str,
    ends: list[RequestEnd],
    *,
    fault_at: float,
    dropped: int,
    respawned_after_s: float | None,
) -> RestartFigures:
    counts = Counter(end.outcome for end in ends)
    return RestartFigures(
        row=row,
        fault=fault,
        sent=len(ends),
        dropped=dropped,
        unavailable_s=longest_outage(ends, fault_at),
        respawned_after_s=respawned_after_s,
        served_after_fault=sum(1 for e in ends if e.outcome == "served" and e.at > fault_at),
        **{outcome: counts[outcome] for outcome in OUTCOMES},
    )


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


TABLE_HEADER = (
    "| row | fault | sent | served | refused | reset | timeout | other failures "
    "| dropped | unavailable (s) | new process after (s) |\n"
    "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n"
)


def markdown_table(figures: Iterable[RestartFigures]) -> str:
    lines = [
        f"| {f.row} | {f.fault} | {f.sent} | {f.served} | {f.refused} | {f.reset} | "
        f"{f.timeout} | {f.http_error + f.other} | {f.dropped} | {_seconds(f.unavailable_s)} | "
        f"{_seconds(f.respawned_after_s)} |"
        for f in figures
    ]
    return TABLE_HEADER + "\n".join(lines) + "\n"
