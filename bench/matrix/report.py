"""Render results.json's figures, report.md and the charts from a run's recorded data alone."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

from bench.matrix import analysis
from bench.matrix.analysis import NOT_REACHED, UNCLEAR, Combo
from bench.matrix.charts import render_charts
from bench.matrix.figures import StepFigures, step_figures
from bench.matrix.records import (
    CHARTS_DIR,
    REPORT_FILE,
    RESULTS_FILE,
    load_results,
    load_steps,
    write_json_atomically,
)
from bench.matrix.workloads import get_workload

KNEE_TARGET = 0.10
DELIVERY_TARGET = 0.98


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


def service_cores(environment: dict[str, Any]) -> int:
    cores = environment.get("service_cores") or environment.get("usable_cores") or [0]
    return len(cores)


def analyse(run_dir: Path) -> dict[str, Any]:
    """Recompute every figure from the recorded steps and store them in results.json."""
    data = load_results(run_dir)
    steps = [step_figures(step, run_dir) for step in load_steps(data)]
    cores = service_cores(data["environment"])
    combos = analysis.combos(steps, cores)
    repeats = int(data["run"]["profile"]["repeats"])
    data["figures"] = {
        "service_cores": cores,
        "steps": [asdict(step) for step in steps],
        "combos": [asdict(c) for c in combos],
        "warnings": [
            *data.get("failures", []),
            *analysis.warnings(steps, combos, repeats, cores),
        ],
    }
    write_json_atomically(run_dir / RESULTS_FILE, data)
    return data


def combos_from(data: dict[str, Any]) -> list[Combo]:
    combos = []
    for raw in data["figures"]["combos"]:
        levels = tuple(
            analysis.Level(**{**level, "reasons": tuple(level["reasons"])})
            for level in raw["levels"]
        )
        combos.append(Combo(**{**raw, "levels": levels}))
    return combos


def steps_from(data: dict[str, Any]) -> list[StepFigures]:
    return [
        StepFigures(**{**raw, "reasons": tuple(raw["reasons"])}) for raw in data["figures"]["steps"]
    ]


def command_line(run: dict[str, Any]) -> str:
    parts = ["bench matrix", f"--profile {run['profile']['name']}"]
    parts.append("--rows " + " ".join(run["rows"]))
    parts.append("--workloads " + " ".join(run["workloads"]))
    if run["fixed_rates"]:
        parts.append("--rates " + ",".join(f"{r:g}" for r in run["fixed_rates"]))
    parts += [
        f"--step-seconds {run['profile']['step_seconds']:g}",
        f"--repeats {run['profile']['repeats']}",
        f"--seed {run['seed']}",
        f"--stack {run['stack']}",
    ]
    if run.get("prometheus_url"):
        parts.append(f"--prometheus-url {run['prometheus_url']}")
    parts += [f"--{knob} {value}" for knob, value in run["knobs"].items()]
    return " ".join(parts)


def verdict(workload: str, combos: list[Combo]) -> str:
    """One paragraph that says what the figures show, and nothing they do not."""
    ranked = sorted(combos, key=lambda c: c.max_sustainable_rps or 0.0, reverse=True)
    endpoint = get_workload(workload).endpoint
    sentences = []
    best, worst = ranked[0], ranked[-1]
    if best.max_sustainable_rps and worst.max_sustainable_rps and len(ranked) > 1:
        at_least = "at least " if best.limited_by == NOT_REACHED else ""
        sentences.append(
            f"On `{endpoint}`, {best.row} sustained the most within the SLO "
            f"({at_least}{fmt_rps(best.max_sustainable_rps)} rps), {at_least}"
            f"{best.max_sustainable_rps / worst.max_sustainable_rps:.1f}x "
            f"{worst.row} ({fmt_rps(worst.max_sustainable_rps)} rps)."
        )
    for c in ranked:
        if c.limited_by == NOT_REACHED:
            sentence = (
                f"{c.row}: {fmt_rps(c.max_sustainable_rps)} rps within the SLO at the highest "
                "rate tried, so its knee is further up"
            )
        else:
            limit = (
                "what limited it is unclear"
                if c.limited_by == UNCLEAR
                else f"limited by {c.limited_by}"
            )
            sentence = (
                f"{c.row}: {fmt_rps(c.max_sustainable_rps)} rps within the SLO, "
                f"at most {fmt_rps(c.max_throughput_rps)} rps served, {limit} ({c.evidence})"
            )
        # Little's law only where it is the binding limit, not 100 slots on /hello.
        binding = c.littles_law_rps is not None and c.littles_law_rps == c.predicted_knee_rps
        if binding and c.slots and c.service_time_ms:
            sentence += (
                f"; Little's law: {c.slots:g} slot(s) / {fmt_ms(c.service_time_ms)} ms "
                f"= {fmt_rps(c.littles_law_rps)} rps"
            )
        sentences.append(sentence + ".")
    return " ".join(sentences)


def _environment_table(environment: dict[str, Any]) -> list[str]:
    packages = ", ".join(f"{name} {version}" for name, version in environment["packages"].items())
    rows = [
        ("stack", environment["stack"]),
        ("CPU", f"{environment['cpu_model']} ({environment['cpu_count']} logical CPUs)"),
        ("cores", environment["cores"]),
        ("kernel", environment["kernel"]),
        ("Python", environment["python"]),
        ("k6", f"{environment['k6']}, Go GC: {environment.get('k6_go_gc', 'not recorded')}"),
        ("Prometheus", environment["prometheus"]),
        ("packages", packages),
        ("git commit", environment["git_commit"]),
    ]
    return ["| | |", "|---|---|", *(f"| {key} | {value} |" for key, value in rows)]


def _table(columns: list[tuple[str, str]], rows: list[list[str]]) -> list[str]:
    """A markdown table; each column is (header, alignment rule)."""
    return [
        "| " + " | ".join(header for header, _ in columns) + " |",
        "|" + "|".join(rule for _, rule in columns) + "|",
        *("| " + " | ".join(cells) + " |" for cells in rows),
    ]


TEXT, NUMBER = "---", "---:"


def _combo_table(combos: list[Combo]) -> list[str]:
    columns = [
        ("row", TEXT),
        ("served at the knee (rps)", NUMBER),
        ("p99 there (ms)", NUMBER),
        ("CPU per request (ms)", NUMBER),
        ("most served (rps)", NUMBER),
        ("predicted knee (rps)", NUMBER),
        ("limited by", TEXT),
    ]
    ranked = sorted(combos, key=lambda c: c.max_sustainable_rps or 0.0, reverse=True)
    rows = [
        [
            c.row,
            fmt_rps(c.max_sustainable_rps),
            fmt_ms(c.p99_at_sustainable_ms),
            fmt_ms(c.cpu_ms_at_sustainable),
            fmt_rps(c.max_throughput_rps),
            fmt_rps(c.predicted_knee_rps),
            c.limited_by,
        ]
        for c in ranked
    ]
    return _table(columns, rows)


def _fidelity_table(combos: list[Combo]) -> list[str]:
    columns = [
        ("workload", TEXT),
        ("row", TEXT),
        ("service time (ms)", NUMBER),
        ("slots", NUMBER),
        ("Little's-law limit (rps)", NUMBER),
        ("CPU limit (rps)", NUMBER),
        ("served / offered at the knee", NUMBER),
        ("most served / predicted knee", NUMBER),
    ]
    rows = [
        [
            c.workload,
            c.row,
            fmt_ms(c.service_time_ms),
            "-" if c.slots is None else f"{c.slots:g}",
            fmt_rps(c.littles_law_rps),
            fmt_rps(c.cpu_limit_rps),
            fmt_ratio(c.delivered_at_knee),
            fmt_ratio(c.knee_ratio),
        ]
        for c in combos
    ]
    return _table(columns, rows)


def _steps_table(steps: list[StepFigures]) -> list[str]:
    columns = [
        ("step", TEXT),
        ("row", TEXT),
        ("workload", TEXT),
        ("offered", NUMBER),
        ("served", NUMBER),
        ("p99 (ms)", NUMBER),
        ("app p99 (ms)", NUMBER),
        ("errors", NUMBER),
        ("dropped", NUMBER),
        ("row CPU (cores)", NUMBER),
        ("k6 CPU (cores)", NUMBER),
        ("past the knee because", TEXT),
    ]
    rows = [
        [
            f"{s.id}{' (partial)' if s.partial else ''}",
            s.row,
            s.workload,
            "probe" if s.offered_rps is None else fmt_rps(s.offered_rps),
            fmt_rps(s.throughput_rps),
            fmt_ms(s.p99_ms),
            fmt_ms(s.server_p99_ms),
            f"{s.error_ratio:.1%}",
            str(s.dropped_iterations),
            "-" if s.cpu_cores is None else f"{s.cpu_cores:.2f}",
            f"{s.k6_cpu_cores:.2f}",
            "; ".join(s.reasons),
        ]
        for s in steps
    ]
    return _table(columns, rows)


METHOD = """\
Each row runs alone, pinned to the service cores (with the latency service
that `/downstream` calls); k6 and Prometheus run on the other cores. For
every workload a **probe** (one VU, requests back to back) warms the row up
and measures the unloaded service time S. Then **steps** of constant offered
load (k6 `constant-arrival-rate`, an open model: requests keep arriving
whether or not the row keeps up) ramp until a step breaks the SLO: p99 above
it, more than 1% errors, more than 1% of the iterations dropped (k6 had no
free VU: requests in flight far beyond the SLO), or less than 95% of the
offered rate served. The ramp aims at the **predicted knee**: Little's law
caps a row with a fixed number of slots (workers, threads, a blocked event
loop) at slots / S; the utilisation law caps any row at (cores - idle) / CPU
per request, from a straight line fitted to the row's CPU against its
throughput at every step within the SLO. The **knee** is the last step within
the SLO and *served at the knee* what the row served there; *most served* is
the highest throughput any step reached. Served is
counted from one service time into the step to its end (the steady state);
latency is k6's, client side ("app p99" is the row's own, from the moment a
request reaches the app, interpolated within histogram buckets); CPU,
slots, concurrency, backlog and event-loop lag are the row's own metrics,
recorded from Prometheus after each step (`steps/*/series.json`): counters
as raw samples, so their rates are exact between two scrapes inside the
step."""


def render_report(run_dir: Path) -> Path:
    """Analyse the run's recorded data, draw its charts and write report.md."""
    data = analyse(run_dir)
    run, environment = data["run"], data["environment"]
    combos = combos_from(data)
    steps = steps_from(data)
    state = "complete" if run["complete"] else f"INCOMPLETE ({run['stopped_because']})"
    lines = [
        f"# Benchmark report `{run['id']}`",
        "",
        f"`{command_line(run)}`",
        "",
        f"Started {run['started_at']}, ended {run['ended_at'] or '-'}: {state}, "
        f"{len(steps)} steps. Re-render with `make report RUN={run['id']}`.",
        "",
    ]
    if data["figures"]["warnings"]:
        lines += ["## Read this first", ""]
        lines += [f"- {warning}" for warning in data["figures"]["warnings"]]
        lines.append("")
    lines += ["## Environment", "", *_environment_table(environment), ""]
    lines += ["## How it was measured", "", METHOD, ""]
    charts_dir = run_dir / CHARTS_DIR
    for workload, group in analysis.combos_by_workload(combos).items():
        spec = get_workload(workload)
        lines += [
            f"## `{spec.endpoint}`: {spec.what}",
            "",
            f"SLO: p99 at most {spec.slo_p99_ms:g} ms.",
            "",
            verdict(workload, group),
            "",
            *_combo_table(group),
            "",
        ]
        for caption, chart in render_charts(workload, group, charts_dir):
            lines += [f"![{caption}]({chart})", ""]
    lines += [
        "## Harness fidelity",
        "",
        f"Served / offered at the highest level within the SLO (target at least "
        f"{DELIVERY_TARGET}), and the most served against the predicted knee (target within "
        f"{KNEE_TARGET:.0%} where Little's law sets it; the CPU limit is an upper bound).",
        "",
        *_fidelity_table(combos),
        "",
        "## Every step",
        "",
        *_steps_table(steps),
        "",
    ]
    path = run_dir / REPORT_FILE
    path.write_text("\n".join(lines))
    return path
