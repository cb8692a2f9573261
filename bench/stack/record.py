"""What `bench up` started, recorded in the state directory.

`bench status`, `bench logs` and `bench down` read this record instead of
recomputing the stack, so they describe what really runs even when the
environment (BENCH_PORT_OFFSET, knobs) changed since.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

from bench.atomic import write_json_atomically
from bench.stack.layout import NativeStackConfig, StackError

Mode = Literal["native", "docker"]
RECORD_NAME = "stack.json"


@dataclass(frozen=True)
class ProgramRecord:
    name: str
    kind: str
    ports: list[int]
    health_url: str


@dataclass(frozen=True)
class StackRecord:
    mode: Mode
    offset: int
    programs: list[ProgramRecord]

    @classmethod
    def for_native(cls, config: NativeStackConfig) -> StackRecord:
        programs = [
            ProgramRecord(p.name, p.kind, list(p.ports), p.health_url) for p in config.programs
        ]
        return cls("native", config.offset, programs)

    def program_names(self) -> list[str]:
        return [program.name for program in self.programs]


def record_path(state_dir: Path) -> Path:
    return state_dir / RECORD_NAME


def write_record(state_dir: Path, record: StackRecord) -> None:
    state_dir.mkdir(parents=True, exist_ok=True)
    write_json_atomically(record_path(state_dir), asdict(record))


def read_record(state_dir: Path) -> StackRecord | None:
    """The record of the stack started from ``state_dir``, None if there is none."""
    path = record_path(state_dir)
    try:
        raw = json.loads(path.read_text())
        programs = [ProgramRecord(**program) for program in raw["programs"]]
        return StackRecord(raw["mode"], int(raw["offset"]), programs)
    except FileNotFoundError:
        return None
    except (ValueError, KeyError, TypeError) as error:
        # A record we cannot read describes nothing we can act on safely.
        raise StackError(f"{path} is not a stack record ({error}); remove it") from None


def remove_record(state_dir: Path) -> None:
    record_path(state_dir).unlink(missing_ok=True)
