"""The report's PNG charts (matplotlib, headless), one set per workload."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import matplotlib as mpl

mpl.use("Agg")  # no display: the charts are files

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from bench.atomic import replacing
from bench.dashboard_colours import row_colours
from bench.matrix.analysis import Combo, Level
from bench.matrix.control import original_of, row_of
from bench.matrix.workloads import get_workload

# The dashboard's colours (bench/dashboard_colours.py): one row, one colour everywhere.
ROW_COLOURS = row_colours()
DPI = 100
DATA = "data"  # gid of plotted measurements, as opposed to reference lines


def _legend(axes: Axes, size: str) -> None:
    if axes.get_legend_handles_labels()[0]:
        axes.legend(fontsize=size)


def _save(figure: Figure, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with replacing(path) as temporary:
        figure.savefig(temporary, dpi=DPI, bbox_inches="tight", metadata={"Software": None})
    plt.close(figure)


def _rates(combo: Combo) -> list[float]:
    return [level.offered_rps for level in combo.levels]


def _positive(axes: Axes, axis: str) -> bool:
    """Whether anything plotted on ``axes`` has a positive value on ``axis`` (log scale works)."""
    for line in axes.get_lines():
        if line.get_gid() != DATA:
            continue  # reference lines (SLO, limits) are not data
        values = np.asarray(line.get_xdata() if axis == "x" else line.get_ydata(), dtype=float)
        if bool(np.any(values > 0)):
            return True
    return False


def _log_axes(axes: Axes, xlabel: str, ylabel: str, y_log: bool = True) -> None:
    # A run interrupted before its first level has nothing positive to put on a log axis.
    plain = FuncFormatter(lambda value, _: f"{value:g}")  # 10, 100, not 10^1, 10^2
    if _positive(axes, "x"):
        axes.set_xscale("log")
        axes.xaxis.set_major_formatter(plain)
    if y_log and _positive(axes, "y"):
        axes.set_yscale("log")
        axes.yaxis.set_major_formatter(plain)
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    axes.grid(True, which="both", alpha=0.3)


def _plot_levels(
    axes: Axes, combo: Combo, pick: Callable[[Level], float | None], **style: Any
) -> None:
    """One row's measurements against offered load (levels without a value are left out)."""
    xs: list[float] = []
    ys: list[float] = []
    for level in combo.levels:
        value = pick(level)
        if value is not None:
            xs.append(level.offered_rps)
            ys.append(value)
    style = {
        "marker": "o",
        "color": ROW_COLOURS[original_of(combo.row)],
        "label": combo.row,
        **({"linestyle": ":"} if combo.row != original_of(combo.row) else {}),
        **style,
    }
    axes.plot(xs, ys, gid=DATA, **style)


def throughput_chart(workload: str, combos: list[Combo], path: Path) -> None:
    figure, axes = plt.subplots(figsize=(8, 5.5))
    everything = [rate for c in combos for rate in _rates(c)]
    if everything:
        low, high = min(everything) * 0.8, max(everything) * 1.25
        axes.plot([low, high], [low, high], color="grey", linestyle=":", label="served = offered")
    for c in combos:
        colour = ROW_COLOURS[original_of(c.row)]
        _plot_levels(axes, c, lambda level: level.throughput_rps)
        if c.littles_law_rps:
            axes.axhline(c.littles_law_rps, color=colour, linestyle="--", linewidth=1, alpha=0.7)
        spread = [lv for lv in c.levels if lv.repeats > 1]
        if spread:
            # Whiskers: the least and the most a level's repeats served.
            axes.errorbar(
                [lv.offered_rps for lv in spread],
                [lv.throughput_rps for lv in spread],
                yerr=[
                    [lv.throughput_rps - lv.throughput_low for lv in spread],
                    [lv.throughput_high - lv.throughput_rps for lv in spread],
                ],
                fmt="none",
                ecolor=colour,
                capsize=3,
                alpha=0.8,
            )
        if c.knee_level_rps:
            knee = next(lv for lv in c.levels if lv.offered_rps == c.knee_level_rps)
            axes.plot(
                knee.offered_rps,
                knee.throughput_rps,
                marker="*",
                markersize=16,
                color=colour,
                markeredgecolor="black",
                linestyle="none",
            )
    _log_axes(axes, "offered load (requests/s, open model)", "served (successful responses/s)")
    endpoint = get_workload(workload).endpoint
    axes.set_title(
        f"{endpoint}: throughput against offered load\n"
        "dashed: Little's-law limit (slots / service time), star: knee (last level within "
        "the SLO), whiskers: range over rounds"
    )
    _legend(axes, "small")
    _save(figure, path)


def latency_chart(workload: str, combos: list[Combo], path: Path) -> None:
    figure, panels = plt.subplots(1, 3, figsize=(15, 4.8), sharey=True)
    slo = get_workload(workload).slo_p99_ms
    pickers: list[tuple[str, Callable[[Level], float | None]]] = [
        ("p50", lambda level: level.p50_ms),
        ("p95", lambda level: level.p95_ms),
        ("p99", lambda level: level.p99_ms),
    ]
    for axes, (name, pick) in zip(panels, pickers, strict=True):
        for c in combos:
            _plot_levels(axes, c, pick)
        axes.axhline(slo, color="red", linestyle="--", linewidth=1, label=f"SLO p99 {slo:g} ms")
        _log_axes(axes, "offered load (requests/s)", f"{name} latency (ms, k6)")
        axes.set_title(name)
    panels[0].legend(fontsize="small")
    figure.suptitle(f"{get_workload(workload).endpoint}: latency against offered load")
    _save(figure, path)


def _share_of(size: float) -> Callable[[Level], float | None]:
    def share(level: Level) -> float | None:
        busy = level.threadpool_busy_mean
        return None if busy is None else busy / size

    return share


def saturation_chart(workload: str, combos: list[Combo], path: Path) -> None:
    figure, (busy_axes, backlog_axes) = plt.subplots(1, 2, figsize=(13, 4.8))
    for c in combos:
        if any(lv.saturation is not None for lv in c.levels):
            _plot_levels(busy_axes, c, lambda lv: lv.saturation, label=f"{c.row} (busy/slots)")
        if workload == "io-thread" and c.slots:
            _plot_levels(
                busy_axes,
                c,
                _share_of(c.slots),
                marker="s",
                linestyle="--",
                label=f"{c.row} (thread pool busy/size)",
            )
        _plot_levels(backlog_axes, c, lambda lv: lv.backlog_max or 0.0)
    _log_axes(busy_axes, "offered load (requests/s)", "mean share of slots busy", y_log=False)
    busy_axes.set_ylim(0, 1.1)
    busy_axes.set_title("worker saturation (WSGI rows; thread pool on /io/thread)")
    _legend(busy_axes, "x-small")
    _log_axes(
        backlog_axes,
        "offered load (requests/s)",
        "max connections waiting in the listen queue",
        y_log=False,
    )
    backlog_axes.set_title("listen backlog (accepted by the kernel, not yet by a worker)")
    _legend(backlog_axes, "x-small")
    figure.suptitle(f"{get_workload(workload).endpoint}: saturation against offered load")
    _save(figure, path)


def loop_lag_chart(workload: str, combos: list[Combo], path: Path) -> bool:
    asgi = [c for c in combos if row_of(c.row).is_async]
    if not asgi:
        return False
    figure, axes = plt.subplots(figsize=(8, 5))
    for c in asgi:
        _plot_levels(axes, c, lambda level: level.loop_lag_p99_ms)
    _log_axes(axes, "offered load (requests/s)", "event-loop lag p99 (ms)")
    axes.set_title(
        f"{get_workload(workload).endpoint}: event-loop lag (ASGI rows)\n"
        "how late a 100 ms probe timer fires: time the loop could not run anything else"
    )
    _legend(axes, "small")
    _save(figure, path)
    return True


def capacity_chart(workload: str, combos: list[Combo], path: Path) -> bool:
    """The verdict: each row's capacity with its interval, highest first."""
    measured = sorted(
        (c for c in combos if c.capacity is not None),
        key=lambda c: c.capacity.value if c.capacity else 0.0,
    )
    if not measured:
        return False
    figure, axes = plt.subplots(figsize=(8, 0.5 * len(measured) + 1.6))
    for position, c in enumerate(measured):
        found = c.capacity
        assert found is not None
        colour = ROW_COLOURS[original_of(c.row)]
        axes.barh(
            position, found.value, color=colour, alpha=0.35 if c.row != original_of(c.row) else 0.7
        )
        if found.low is not None:
            high = found.high if found.high is not None else found.value * 1.5
            axes.plot([found.low, high], [position, position], color="black", linewidth=2, gid=DATA)
            if found.high is None:
                axes.annotate("at least", (high, position), fontsize="small", va="center")
    axes.set_yticks(range(len(measured)), [c.row for c in measured])
    axes.set_xlabel("capacity: served at full load (requests/s, the machine's speed taken out)")
    axes.set_title(
        f"{get_workload(workload).endpoint}: capacity over the rounds\n"
        "bar: median, line: interval (rows whose lines overlap are not ranked)"
    )
    axes.grid(True, axis="x", alpha=0.3)
    _save(figure, path)
    return True


def render_charts(workload: str, combos: list[Combo], charts_dir: Path) -> list[tuple[str, str]]:
    """Write the workload's charts; (caption, path relative to the report) per chart."""
    combos = [c for c in combos if c.levels]
    if not combos:
        return []
    made = []
    capacity_path = charts_dir / f"{workload}-capacity.png"
    if capacity_chart(workload, combos, capacity_path):
        made.append(("Capacity and its interval", f"{charts_dir.name}/{capacity_path.name}"))
    for kind, caption, draw in (
        ("throughput", "Throughput against offered load", throughput_chart),
        ("latency", "Latency (p50, p95, p99) against offered load", latency_chart),
        ("saturation", "Saturation: busy slots and listen backlog", saturation_chart),
    ):
        path = charts_dir / f"{workload}-{kind}.png"
        draw(workload, combos, path)
        made.append((caption, f"{charts_dir.name}/{path.name}"))
    lag_path = charts_dir / f"{workload}-loop-lag.png"
    if loop_lag_chart(workload, combos, lag_path):
        made.append(("Event-loop lag (ASGI rows)", f"{charts_dir.name}/{lag_path.name}"))
    return made
