"""`sab-serve ROW`: start one row of the matrix exactly as its container does.

It resolves the row's knobs (services.settings), prints the real server
command line (from the row's server module, services/servers) so nothing is
hidden, and replaces itself with it.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from pathlib import Path

from services.rows import LATENCY_SERVICE_PORT, ROWS_BY_NAME, UnknownRowError
from services.settings import (
    DEFAULT_HOST,
    MULTIPROC_VARIABLE,
    RowSettings,
    SettingsError,
    load_settings,
)

# The latency service is not a row: plain uvicorn, no knobs.
GRACEFUL_TIMEOUT_S = 5

LATENCY_SERVICE_APP = "services.latency.app:app"
LATENCY_SERVICE_NAME = "latency"


def latency_command(host: str, port: int) -> list[str]:
    """The argv of the latency service that /downstream calls (not a row)."""
    return [
        "uvicorn", LATENCY_SERVICE_APP,
        "--host", host, "--port", str(port),
        "--no-access-log",
        "--timeout-graceful-shutdown", str(GRACEFUL_TIMEOUT_S),
    ]  # fmt: skip


def build_command(settings: RowSettings) -> list[str]:
    """The argv that serves ``settings.row``: its server module's command."""
    return settings.server.command(settings)


def build_env(settings: RowSettings, base: dict[str, str]) -> dict[str, str]:
    """The environment the server runs with: ``base`` plus the row's resolved settings."""
    env = {key: value for key, value in base.items() if key != MULTIPROC_VARIABLE}
    return {**env, **settings.environment()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="sab-serve",
        description="Serve one row of the matrix (knobs: BENCH_* environment variables, "
        "see docs/configuration.md).",
    )
    parser.add_argument("row", help="one of: " + ", ".join([*ROWS_BY_NAME, LATENCY_SERVICE_NAME]))
    parser.add_argument(
        "--print-only", action="store_true", help="print the command and exit without serving"
    )
    args = parser.parse_args(argv)
    if args.row == LATENCY_SERVICE_NAME:
        _exec_latency_service(print_only=args.print_only)
        return
    try:
        settings = load_settings(args.row)
    except (UnknownRowError, SettingsError) as error:
        parser.error(str(error))
    command = build_command(settings)
    print(f"[sab-serve] {settings.row.name}: {shlex.join(command)}", file=sys.stderr, flush=True)
    if args.print_only:
        print(shlex.join(command))
        return
    _exec(command, build_env(settings, dict(os.environ)))


def _exec_latency_service(*, print_only: bool) -> None:
    host = os.environ.get("BENCH_HOST", DEFAULT_HOST)
    port = int(os.environ.get("BENCH_LATENCY_PORT", str(LATENCY_SERVICE_PORT)))
    command = latency_command(host, port)
    print(f"[sab-serve] latency: {shlex.join(command)}", file=sys.stderr, flush=True)
    if print_only:
        print(shlex.join(command))
        return
    _exec(command, dict(os.environ))


def _exec(command: list[str], env: dict[str, str]) -> None:
    # Run the server binary from this interpreter's environment (venv or image).
    bindir = str(Path(sys.executable).parent)
    env["PATH"] = bindir + os.pathsep + env.get("PATH", "")
    os.execvpe(command[0], command, env)  # noqa: S606 - replacing ourselves is the point


if __name__ == "__main__":
    main()
