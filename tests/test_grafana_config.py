"""The native stack's Grafana gets the generated admin password, checked without a Grafana.

No Grafana binary is installable here (docs/dashboards.md), so these tests
check the configuration the native stack generates: a stand-in `grafana` on
PATH (never run) makes `bench up`'s layout include Grafana, and the
supervisord.conf it would start Grafana with is parsed by supervisor's own
parser. Grafana expands `$__file{path}` in every configuration value after
applying its GF_* environment overrides (pkg/setting: applyEnvVariableOverrides,
then expandConfig), trimming the file's whitespace; `expand_file_references`
below does the same for the one provider used.
"""

from __future__ import annotations

import configparser
import re
from pathlib import Path

import pytest
from supervisor.datatypes import dict_of_key_value_pairs

from bench.stack.grafana import file_reference, grafana_env
from bench.stack.layout import GRAFANA_PROGRAM, NativeStackConfig, native_stack_config
from bench.stack.supervisor_conf import render_supervisord_conf

OFFSET = 20000


def expand_file_references(value: str) -> str:
    """Grafana's `$__file{path}` expansion: the file's contents, whitespace trimmed."""
    return re.sub(r"\$__file\{([^}]*)\}", lambda m: Path(m.group(1)).read_text().strip(), value)


def fake_grafana(root: Path) -> Path:
    """A `grafana` on PATH with a home directory, as find_grafana expects; never executed."""
    binary = root / "bin" / "grafana"
    if binary.is_file():
        return binary.parent
    binary.parent.mkdir(parents=True)
    binary.write_text("#!/bin/sh\nexit 1\n")
    binary.chmod(0o755)
    (root / "conf").mkdir()
    (root / "conf" / "defaults.ini").write_text("[security]\nadmin_password = admin\n")
    return binary.parent


def stack_with_grafana(tmp_path: Path, extra_env: dict[str, str]) -> NativeStackConfig:
    path = fake_grafana(tmp_path / "grafana-install")
    return native_stack_config(OFFSET, tmp_path / "state", {"PATH": str(path), **extra_env})


def grafana_environment_in_supervisord_conf(config: NativeStackConfig) -> dict[str, str]:
    """The environment supervisord would give Grafana, parsed as supervisord does."""
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string(render_supervisord_conf(config))
    raw = parser[f"program:{GRAFANA_PROGRAM}"]["environment"]
    # supervisord expands %(name)s first; a literal % is written doubled.
    environment: dict[str, str] = dict_of_key_value_pairs(raw.replace("%%", "%"))
    return environment


def test_the_native_grafana_reads_the_generated_password(tmp_path: Path) -> None:
    config = stack_with_grafana(tmp_path, {})
    assert config.has(GRAFANA_PROGRAM)
    (notice,) = config.notices
    generated = notice.rsplit(": ", 1)[1]
    environment = grafana_environment_in_supervisord_conf(config)
    password_file = tmp_path.resolve() / "state" / "grafana-admin-password"
    assert environment["GF_SECURITY_ADMIN_PASSWORD"] == f"$__file{{{password_file}}}"
    assert expand_file_references(environment["GF_SECURITY_ADMIN_PASSWORD"]) == generated
    assert len(generated) >= 20
    # The Docker image's convention does nothing for the binary: never rely on it.
    assert not [name for name in environment if name.endswith("__FILE")]
    assert environment["GF_SECURITY_ADMIN_USER"] == "admin"


def test_a_chosen_password_reaches_grafana_and_is_kept(tmp_path: Path) -> None:
    chosen = "correct horse battery staple"
    config = stack_with_grafana(tmp_path, {"GRAFANA_ADMIN_PASSWORD": chosen})
    environment = grafana_environment_in_supervisord_conf(config)
    assert expand_file_references(environment["GF_SECURITY_ADMIN_PASSWORD"]) == chosen
    # The next `bench up` without the variable keeps it.
    again = grafana_environment_in_supervisord_conf(stack_with_grafana(tmp_path, {}))
    assert expand_file_references(again["GF_SECURITY_ADMIN_PASSWORD"]) == chosen


def test_the_password_file_is_private_to_its_directory(tmp_path: Path) -> None:
    stack_with_grafana(tmp_path, {})
    state = tmp_path / "state"
    assert state.stat().st_mode & 0o777 == 0o700
    assert (state / "grafana-admin-password").read_text().strip()


def test_grafana_env_names_the_file_not_the_value(tmp_path: Path) -> None:
    password_file = tmp_path / "grafana-admin-password"
    env = grafana_env(tmp_path, 3000, "http://127.0.0.1:9090", password_file)
    assert env["GF_SECURITY_ADMIN_PASSWORD"] == file_reference(password_file)
    assert "GF_SECURITY_ADMIN_PASSWORD__FILE" not in env


def test_a_path_grafana_could_not_expand_is_refused() -> None:
    with pytest.raises(ValueError, match="brace"):
        file_reference(Path("/tmp/odd}name"))  # noqa: S108 - never created
