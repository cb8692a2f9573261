"""How the report writes numbers, intervals and tables."""

from __future__ import annotations

from bench.matrix.stats import Estimate

TEXT, NUMBER = "---", "---:"


def fmt_rps(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.0f}" if value >= 100 else f"{value:.3g}"


def fmt_ms(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.0f}" if value >= 100 else f"{value:.3g}"


def fmt_ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def fmt_times(value: float | None) -> str:
    """A ratio as a factor: 1.23x."""
    return "-" if value is None else f"{value:.2f}x"


def fmt_estimate(found: Estimate | None) -> str:
    """'2210 (2050-2380)'; '>= 3000' for a bound; '61 (one round)' without an interval."""
    if found is None:
        return "-"
    if found.at_least:
        return f">= {fmt_rps(found.value)}"
    if found.low is None or found.high is None:
        return f"{fmt_rps(found.value)} (no interval)"
    return f"{fmt_rps(found.value)} ({fmt_rps(found.low)}-{fmt_rps(found.high)})"


def fmt_interval(low: float | None, high: float | None) -> str:
    """A ratio interval: '1.05-1.44x', 'at least 1.05x'."""
    if low is None:
        return "unbounded"
    if high is None:
        return f"at least {low:.2f}x"
    return f"{low:.2f}-{high:.2f}x"


def table(columns: list[tuple[str, str]], rows: list[list[str]]) -> list[str]:
    """A markdown table; each column is (header, alignment rule)."""
    return [
        "| " + " | ".join(header for header, _ in columns) + " |",
        "|" + "|".join(rule for _, rule in columns) + "|",
        *("| " + " | ".join(cells) + " |" for cells in rows),
    ]
