"""Subcommands of `bench` (filled in by the issue that owns this module)."""

from __future__ import annotations

import argparse
from typing import Any


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add this module's subcommands to the `bench` parser."""
