"""The A/A control: a second, identical copy of a row, measured under another name.

Its figures differ from the original's only by the run's noise, so its
verdict against the original must be "indistinguishable"; how far apart the
two came out is the run's noise floor, printed in the report.
"""

from __future__ import annotations

from services.rows import Row, get_row

CONTROL_SUFFIX = "-control"


def control_name(row: str) -> str:
    return f"{row}{CONTROL_SUFFIX}"


def is_control(name: str) -> bool:
    return name.endswith(CONTROL_SUFFIX)


def original_of(name: str) -> str:
    """The row a matrix entry runs: itself, or the row a control copies."""
    return name.removesuffix(CONTROL_SUFFIX)


def row_of(name: str) -> Row:
    return get_row(original_of(name))
