"""Files the harness writes appear whole or not at all: write to a temporary, then rename.

A run interrupted at any moment (Ctrl-C, SIGKILL, a full disk) leaves every
results.json, summary, report, chart and generated config either as it was
or complete, never half-written: rename within one directory is atomic on
POSIX. tests/test_atomic_writes.py checks that bench/ writes files only here.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

# Less free space than this in a results directory is an error before a run:
# one matrix step writes a few MB (series, samples, charts).
MIN_FREE_BYTES = 64 * 1024 * 1024


class UnwritableDirectoryError(RuntimeError):
    """A directory the harness must write into cannot take its files; the message says why."""


@contextlib.contextmanager
def replacing(path: Path) -> Iterator[Path]:
    """A temporary path beside ``path`` to write into; renamed over ``path`` on success.

    The temporary keeps ``path``'s suffix (so matplotlib and the like pick the
    same format) and its mode if ``path`` exists; a new file gets the umask's.
    If the block raises, the temporary is removed and ``path`` is untouched.
    """
    temporary = path.with_name(f".{path.stem}.{secrets.token_hex(4)}.tmp{path.suffix}")
    try:
        yield temporary
        with temporary.open("rb+") as written:
            os.fsync(written.fileno())  # on disk before the name points at it
        if path.exists():
            shutil.copymode(path, temporary)
        temporary.replace(path)
    finally:
        temporary.unlink(missing_ok=True)


def write_text_atomically(path: Path, text: str) -> None:
    with replacing(path) as temporary:
        temporary.write_text(text)


def write_json_atomically(path: Path, data: Any, *, indent: int | None = 2) -> None:
    """``data`` as JSON (indented unless ``indent`` is None) and a final newline."""
    # Serialised first: data that is not JSON fails before any file is touched.
    write_text_atomically(path, json.dumps(data, indent=indent) + "\n")


def ensure_writable_directory(path: Path, min_free_bytes: int = MIN_FREE_BYTES) -> None:
    """Create ``path`` if needed and prove a file can be written there, or say why not.

    Called before any load is sent, so a run never measures for minutes and
    then fails to keep its results.
    """
    try:
        path.mkdir(parents=True, exist_ok=True)
        write_text_atomically(path / ".write-probe", "bench can write here\n")
        (path / ".write-probe").unlink()
        free = shutil.disk_usage(path).free
    except OSError as error:
        raise UnwritableDirectoryError(
            f"cannot write results to {path}: {error.strerror or error}. "
            "Choose another directory with BENCH_RESULTS_DIR"
        ) from None
    if free < min_free_bytes:
        raise UnwritableDirectoryError(
            f"the results directory {path} has only {free / 2**20:.0f} MiB free "
            f"(a run needs at least {min_free_bytes / 2**20:.0f} MiB): free some space or "
            "choose another directory with BENCH_RESULTS_DIR"
        )
