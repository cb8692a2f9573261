"""`bench`: one entry point for every project command (the Makefile calls it)."""

from __future__ import annotations

import argparse
import importlib
import signal
import sys
from collections.abc import Callable

# Each module owns one group of subcommands and exposes register(subparsers).
COMMAND_MODULES = (
    "bench.stack.commands",
    "bench.loadtest.commands",
    "bench.overhead",
    "bench.versus",
    "bench.scrape_cost",
    "bench.middleware_cost",
    "bench.db_pool_cost",
    "bench.loadgen_ceiling",
    "bench.matrix.commands",
    "bench.matrix.compare",
    "bench.matrix.reproducibility",
    "bench.dashboards",
    "bench.kubernetes",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bench",
        description=(
            "sync-async-bench: native stack, load tests, dashboards, "
            "benchmark matrix and report, overhead."
        ),
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module_name in COMMAND_MODULES:
        module = importlib.import_module(module_name)
        module.register(subparsers)
    return parser


def _exit_on_sigterm(signum: int, frame: object) -> None:
    # SystemExit unwinds the stack, so every `with running_...` block stops
    # the servers it started instead of leaving them orphaned.
    sys.exit(128 + signum)


def main(argv: list[str] | None = None) -> None:
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.handler
    sys.exit(handler(args))
