"""Run a dashboard panel's query the way Grafana would, without a Grafana.

No Grafana binary is installable here, so the live dashboard tests do its
part: interpolate the template variables and Grafana's built-in interval and
range variables, then send the query to a real Prometheus as a range query
with Grafana's step (time series) or as an instant query at the end of the
range (tables marked instant).

Grafana's documented rules (docs "Global variables", Prometheus data source):
  $__interval      = time range / max data points, never below the data
                     source's scrape interval (its jsonData.timeInterval)
  $__rate_interval = max($__interval + scrape interval, 4 x scrape interval)
  $__range         = the time range, "<seconds>s"; $__rate_interval_ms in ms
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

import yaml

from bench.paths import GRAFANA_DIR
from bench.prometheus import PrometheusClient

DATASOURCE_FILE = GRAFANA_DIR / "provisioning" / "datasources" / "prometheus.yml"
# Grafana's default max data points is the panel's width in pixels; a
# half-width panel on a 1920 px screen is about this wide.
MAX_DATA_POINTS = 900


def scrape_interval_s() -> float:
    """The provisioned datasource's scrape interval (jsonData.timeInterval, e.g. "1s")."""
    (source,) = yaml.safe_load(DATASOURCE_FILE.read_text())["datasources"]
    match = re.fullmatch(r"(\d+)s", source["jsonData"]["timeInterval"])
    assert match, f"timeInterval {source['jsonData']['timeInterval']!r} is not whole seconds"
    return float(match.group(1))


@dataclass(frozen=True)
class TimeRange:
    start: float
    end: float

    @property
    def seconds(self) -> int:
        return round(self.end - self.start)

    @property
    def interval_s(self) -> float:
        scrape = scrape_interval_s()
        raw = self.seconds / MAX_DATA_POINTS
        # Grafana rounds the raw interval to a "nice" value before taking the
        # minimum; below the minimum the rounding cannot matter, and the test
        # ranges stay there (a longer range would need the rounding table).
        assert raw <= scrape, f"range {self.seconds} s is too long for this emulation"
        return scrape

    @property
    def rate_interval_s(self) -> float:
        scrape = scrape_interval_s()
        return max(self.interval_s + scrape, 4 * scrape)

    def builtins(self) -> dict[str, str]:
        return {
            "__rate_interval_ms": str(round(self.rate_interval_s * 1000)),
            "__rate_interval": f"{self.rate_interval_s:g}s",
            "__interval_ms": str(round(self.interval_s * 1000)),
            "__interval": f"{self.interval_s:g}s",
            "__range_ms": str(self.seconds * 1000),
            "__range_s": str(self.seconds),
            "__range": f"{self.seconds}s",
        }


def interpolate(expr: str, values: dict[str, str], time_range: TimeRange) -> str:
    """$name and ${name}, longest names first ($__rate_interval_ms before $__rate_interval)."""
    every = {**values, **time_range.builtins()}
    for name in sorted(every, key=len, reverse=True):
        expr = expr.replace(f"${{{name}}}", every[name]).replace(f"${name}", every[name])
    return expr


def multi_value(values: list[str]) -> str:
    """Grafana's Prometheus formatting of a multi-value variable: a regex alternation."""
    escaped = [re.sub(r"([\\^$.|?*+()\[\]{}])", r"\\\1", value) for value in sorted(values)]
    return escaped[0] if len(escaped) == 1 else f"({'|'.join(escaped)})"


def run_query(
    prometheus: PrometheusClient, expr: str, instant: bool, time_range: TimeRange
) -> list[dict[str, Any]]:
    if instant:
        return prometheus.query(expr, time=time_range.end)
    return prometheus.query_range(
        expr, time_range.start, time_range.end, step=time_range.interval_s
    )


def has_finite_value(result: list[dict[str, Any]]) -> bool:
    values = [v for series in result for v in series.get("values", [series.get("value")])]
    return any(math.isfinite(float(value)) for _, value in values)
