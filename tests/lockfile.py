"""Read requirements/*.txt (the hash lock) and compare it with pyproject.toml's pins."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

from bench.paths import REPO_ROOT

REQUIREMENTS = REPO_ROOT / "requirements"
BOOTSTRAP_IN = REQUIREMENTS / "bootstrap.in"
BOOTSTRAP_LOCK = REQUIREMENTS / "bootstrap.txt"
RUNTIME_LOCK = REQUIREMENTS / "runtime.txt"
DEV_LOCK = REQUIREMENTS / "dev.txt"
PYPROJECT = REPO_ROOT / "pyproject.toml"

# A pinned line of pip-compile's output: `name==version \` (hashes follow).
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+?)(?:\s+\\)?$")
_HASH = re.compile(r"^\s+--hash=sha256:[0-9a-f]{64}")
# A requirement string of pyproject.toml: `name[extras]==version` is pinned.
_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")
_EXACT = re.compile(
    r"^\s*[A-Za-z0-9][A-Za-z0-9._-]*\s*(?:\[[^\]]*\])?\s*==\s*([^\s;,]+)\s*(?:;.*)?$"
)


def canonicalize_name(name: str) -> str:
    """PEP 503: `Foo_Bar.baz` and `foo-bar-baz` are one package."""
    return re.sub(r"[-_.]+", "-", name).lower()


def parse_lock(text: str) -> dict[str, tuple[str, int]]:
    """name -> (version, number of sha256 hashes), by normalised name."""
    found: dict[str, tuple[str, int]] = {}
    current: str | None = None
    for line in text.splitlines():
        pin = _PIN.match(line)
        if pin:
            current = canonicalize_name(pin.group(1))
            found[current] = (pin.group(2), 0)
        elif current and _HASH.match(line):
            version, hashes = found[current]
            found[current] = (version, hashes + 1)
        elif line and not line[0].isspace():
            current = None
    return found


def locked_versions(path: Path) -> dict[str, str]:
    return {name: version for name, (version, _) in parse_lock(path.read_text()).items()}


def pins(requirements: list[str]) -> dict[str, str]:
    """name -> the exact version each requirement string pins ("unpinned": not one `==`)."""
    found = {}
    for line in requirements:
        name = _NAME.match(line)
        if name is None:
            raise ValueError(f"pyproject.toml: cannot read the requirement {line!r}")
        exact = _EXACT.match(line)
        found[canonicalize_name(name.group(1))] = exact.group(1) if exact else "unpinned"
    return found


def mismatches(wanted: dict[str, str], lock_text: str, lock_name: str) -> list[str]:
    """What the lock gets wrong about the wanted pins, one sentence per package."""
    locked = parse_lock(lock_text)
    problems = []
    for name, version in sorted(wanted.items()):
        if version == "unpinned":
            problems.append(f"{name}: pyproject.toml must pin it with ==")
        elif name not in locked:
            problems.append(f"{name}: pinned {version} in pyproject.toml, missing from {lock_name}")
        elif locked[name][0] != version:
            problems.append(
                f"{name}: pyproject.toml pins {version}, {lock_name} locks {locked[name][0]}"
            )
    problems += [
        f"{name}: {lock_name} locks it without a hash"
        for name, (_, hashes) in sorted(locked.items())
        if hashes == 0
    ]
    return problems


def project_pins(pyproject: dict[str, Any]) -> tuple[dict[str, str], dict[str, str]]:
    """(runtime pins, dev pins = runtime + the dev extra) of a parsed pyproject.toml."""
    project = pyproject["project"]
    runtime = pins(project["dependencies"])
    return runtime, runtime | pins(project["optional-dependencies"]["dev"])


def load_pyproject(path: Path = PYPROJECT) -> dict[str, Any]:
    with path.open("rb") as handle:
        return tomllib.load(handle)
