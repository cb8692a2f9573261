"""Grafana for the native stack: find the binary and configure it by environment.

Grafana reads GF_<SECTION>_<KEY> variables over its defaults.ini, so the
native stack needs no grafana.ini of its own: the same provisioning directory
as compose, anonymous viewers, an admin password that is never the default.

The password reaches the Grafana binary as `$__file{<path>}`: Grafana expands
that syntax in every configuration value, environment overrides included
(pkg/setting applies GF_* overrides, then expands). GF_..._PASSWORD__FILE is
only a convention of the Docker image's entry script, which the native
Grafana never runs, so it would silently keep the built-in default password.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from bench.atomic import write_text_atomically
from bench.paths import GRAFANA_DIR
from bench.procs import LOOPBACK

PROVISIONING_DIR = GRAFANA_DIR / "provisioning"
DASHBOARDS_DIR = GRAFANA_DIR / "dashboards"
PASSWORD_FILE_NAME = "grafana-admin-password"  # noqa: S105 - a file name, not a secret
# Where a Grafana install keeps conf/defaults.ini, besides next to its binary.
_HOMEPATH_CANDIDATES = (
    Path("/usr/share/grafana"),
    Path("/usr/local/share/grafana"),
    Path("/opt/homebrew/share/grafana"),
)
INSTALL_HINT = "install Grafana (https://grafana.com/grafana/download) or use the docker stack"


class GrafanaNotFoundError(RuntimeError):
    """No usable Grafana installation."""


@dataclass(frozen=True)
class GrafanaInstall:
    binary: Path
    homepath: Path

    def argv(self) -> list[str]:
        # Grafana 10+ ships one `grafana` binary with a `server` subcommand;
        # older installs only have `grafana-server`.
        if self.binary.name == "grafana":
            return [str(self.binary), "server", "--homepath", str(self.homepath)]
        return [str(self.binary), "--homepath", str(self.homepath)]


def find_grafana(env: Mapping[str, str] | None = None) -> GrafanaInstall:
    """The Grafana binary on PATH and its home directory (GRAFANA_HOMEPATH overrides)."""
    environ = os.environ if env is None else env
    path = environ.get("PATH")
    binary = shutil.which("grafana", path=path) or shutil.which("grafana-server", path=path)
    if binary is None:
        raise GrafanaNotFoundError(f"not on PATH; {INSTALL_HINT}")
    resolved = Path(binary).resolve()
    candidates = [resolved.parent.parent, *_HOMEPATH_CANDIDATES]
    if environ.get("GRAFANA_HOMEPATH"):
        candidates.insert(0, Path(environ["GRAFANA_HOMEPATH"]))
    for homepath in candidates:
        if (homepath / "conf" / "defaults.ini").is_file():
            return GrafanaInstall(Path(binary), homepath)
    raise GrafanaNotFoundError(
        f"found {binary} but not its home directory (conf/defaults.ini); set GRAFANA_HOMEPATH"
    )


@dataclass(frozen=True)
class AdminPassword:
    value: str
    file: Path  # what Grafana reads in both modes (compose: a secret; native: $__file{})
    generated: bool

    def notice(self) -> str:
        if self.generated:
            return (
                f"Grafana admin password (generated once, kept in {self.file}; "
                f"set GRAFANA_ADMIN_PASSWORD to choose your own): {self.value}"
            )
        return f"Grafana admin password: in {self.file}"


def ensure_admin_password(state_dir: Path, env: Mapping[str, str] | None = None) -> AdminPassword:
    """Write Grafana's admin password file: GRAFANA_ADMIN_PASSWORD, else the kept or a new one.

    Grafana only applies it when it creates its database, so a later change
    needs the data (state dir or grafana-data volume) removed.
    """
    environ = os.environ if env is None else env
    password_file = state_dir / PASSWORD_FILE_NAME
    generated = False
    if environ.get("GRAFANA_ADMIN_PASSWORD"):
        value = environ["GRAFANA_ADMIN_PASSWORD"]
    elif password_file.is_file():
        value = password_file.read_text().strip()
    else:
        value, generated = secrets.token_urlsafe(18), True
    # The directory keeps other users out; the file itself must stay readable
    # by the Grafana container's own user, which sees it as a bind-mounted secret.
    state_dir.mkdir(parents=True, exist_ok=True)
    state_dir.chmod(0o700)
    write_text_atomically(password_file, value)
    password_file.chmod(0o644)
    return AdminPassword(value, password_file, generated)


def file_reference(path: Path) -> str:
    """Grafana's configuration syntax for "the contents of this file" (whitespace trimmed)."""
    if "}" in str(path):
        raise ValueError(f"Grafana's $__file{{}} cannot name a path with a brace: {path}")
    return f"$__file{{{path}}}"


def grafana_env(
    state_dir: Path, port: int, prometheus_url: str, password_file: Path
) -> dict[str, str]:
    """GF_* settings of the native Grafana, plus what the provisioning files interpolate."""
    home = state_dir / "grafana"
    return {
        "GF_PATHS_DATA": str(home / "data"),
        "GF_PATHS_LOGS": str(home / "logs"),
        "GF_PATHS_PLUGINS": str(home / "plugins"),
        "GF_PATHS_PROVISIONING": str(PROVISIONING_DIR),
        "GF_SERVER_HTTP_ADDR": LOOPBACK,
        "GF_SERVER_HTTP_PORT": str(port),
        "GF_AUTH_ANONYMOUS_ENABLED": "true",
        "GF_AUTH_ANONYMOUS_ORG_ROLE": "Viewer",
        "GF_USERS_ALLOW_SIGN_UP": "false",
        "GF_SECURITY_ADMIN_USER": "admin",
        "GF_SECURITY_ADMIN_PASSWORD": file_reference(password_file),
        "GF_ANALYTICS_REPORTING_ENABLED": "false",
        "GF_ANALYTICS_CHECK_FOR_UPDATES": "false",
        "GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH": str(
            DASHBOARDS_DIR / "sync-async-compare.json"
        ),
        "PROMETHEUS_URL": prometheus_url,
        "GRAFANA_DASHBOARDS_DIR": str(DASHBOARDS_DIR),
    }
