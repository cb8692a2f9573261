"""The hash lock (requirements/*.txt) agrees with pyproject.toml's pins, and installs."""

from __future__ import annotations

import re
from importlib import metadata

from bench.matrix.environment import installed_packages
from tests.lockfile import (
    BOOTSTRAP_IN,
    BOOTSTRAP_LOCK,
    DEV_LOCK,
    RUNTIME_LOCK,
    canonicalize_name,
    load_pyproject,
    locked_versions,
    mismatches,
    pins,
    project_pins,
)

RELOCK = "pyproject.toml and the lock disagree: run `make lock`"


def test_runtime_lock_has_every_runtime_pin_at_its_version() -> None:
    runtime, _ = project_pins(load_pyproject())
    problems = mismatches(runtime, RUNTIME_LOCK.read_text(), "requirements/runtime.txt")
    assert problems == [], f"{RELOCK}:\n" + "\n".join(problems)


def test_dev_lock_has_every_pin_at_its_version() -> None:
    _, dev = project_pins(load_pyproject())
    problems = mismatches(dev, DEV_LOCK.read_text(), "requirements/dev.txt")
    assert problems == [], f"{RELOCK}:\n" + "\n".join(problems)


def test_the_locks_agree_with_each_other() -> None:
    """One version per package everywhere: the image runs what the tests ran."""
    dev = locked_versions(DEV_LOCK)
    for lock in (RUNTIME_LOCK, BOOTSTRAP_LOCK):
        differ = {
            name: (version, dev.get(name))
            for name, version in locked_versions(lock).items()
            if dev.get(name) != version
        }
        assert differ == {}, f"{lock.name} vs dev.txt (name: (there, dev.txt)): {differ}"


def test_bootstrap_builds_with_pyprojects_build_backend() -> None:
    build = pins(load_pyproject()["build-system"]["requires"])
    wanted = pins([line for line in BOOTSTRAP_IN.read_text().splitlines() if re.match(r"\w", line)])
    assert build.items() <= wanted.items(), "bootstrap.in must pin [build-system] requires"
    problems = mismatches(wanted, BOOTSTRAP_LOCK.read_text(), "requirements/bootstrap.txt")
    assert problems == [], f"{RELOCK}:\n" + "\n".join(problems)


def test_a_dependency_added_but_not_relocked_is_named() -> None:
    pyproject = load_pyproject()
    pyproject["project"]["dependencies"].append("colorama==0.4.6")
    runtime, _ = project_pins(pyproject)
    problems = mismatches(runtime, RUNTIME_LOCK.read_text(), "requirements/runtime.txt")
    assert problems == [
        "colorama: pinned 0.4.6 in pyproject.toml, missing from requirements/runtime.txt"
    ]


def test_a_changed_pin_is_named() -> None:
    pyproject = load_pyproject()
    deps = pyproject["project"]["dependencies"]
    deps[:] = [re.sub(r"^gunicorn==\S+", "gunicorn==23.0.0", dep) for dep in deps]
    runtime, _ = project_pins(pyproject)
    problems = mismatches(runtime, RUNTIME_LOCK.read_text(), "requirements/runtime.txt")
    locked = locked_versions(RUNTIME_LOCK)["gunicorn"]
    assert problems == [
        f"gunicorn: pyproject.toml pins 23.0.0, requirements/runtime.txt locks {locked}"
    ]


def test_an_unpinned_dependency_and_a_hashless_line_are_named() -> None:
    lock = "flask==3.1.3\n    # via x\nhttpx==0.29.0 \\\n    --hash=sha256:" + "0" * 64 + "\n"
    problems = mismatches({"flask": "3.1.3", "httpx": "unpinned"}, lock, "lock.txt")
    assert problems == [
        "httpx: pyproject.toml must pin it with ==",
        "flask: lock.txt locks it without a hash",
    ]


def test_this_environment_is_exactly_the_dev_lock() -> None:
    """make install installed the lock: every locked package, at its version."""
    installed = {canonicalize_name(d.metadata["Name"]): d.version for d in metadata.distributions()}
    differ = {
        name: (version, installed.get(name))
        for name, version in locked_versions(DEV_LOCK).items()
        if installed.get(name) != version
    }
    assert differ == {}, f"locked vs installed (run `make install`): {differ}"


def test_run_environment_records_every_locked_package() -> None:
    recorded = installed_packages()
    for lock in (RUNTIME_LOCK, DEV_LOCK, BOOTSTRAP_LOCK):
        missing = {
            name: version
            for name, version in locked_versions(lock).items()
            if recorded.get(name) != version
        }
        assert missing == {}, f"{lock.name}: not recorded as locked: {missing}"
