"""Render results.json's figures, report.md and the charts from a run's recorded data alone."""

from __future__ import annotations

import itertools
import os
import statistics
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bench.atomic import write_json_atomically, write_text_atomically
from bench.matrix import analysis, repeats, verdicts
from bench.matrix.analysis import Combo
from bench.matrix.charts import render_charts
from bench.matrix.environment import environment_rows
from bench.matrix.figures import StepFigures, step_figures
from bench.matrix.markdown import NUMBER, TEXT, fmt_estimate, fmt_ms, fmt_ratio, fmt_rps, table
from bench.matrix.prose import METHOD, PRIMARY_WHY, control_paragraph, noise_paragraph, verdict
from bench.matrix.records import (
    CHARTS_DIR,
    REPORT_FILE,
    RESULTS_FILE,
    load_results,
    load_steps,
)
from bench.matrix.speed import load_samples
from bench.matrix.stats import Estimate
from bench.matrix.workloads import get_workload

CAPACITY_TARGET = 0.20  # capacity / predicted within this, where a prediction is drawn
DELIVERY_TARGET = 0.98


def service_cores(environment: dict[str, Any]) -> int:
    cores = environment.get("service_cores") or environment.get("usable_cores") or [0]
    return len(cores)


def analyse(run_dir: Path) -> dict[str, Any]:
    """Recompute every figure from the recorded steps and store them in results.json."""
    data = compute(run_dir)
    write_json_atomically(run_dir / RESULTS_FILE, data)
    return data


def compute(run_dir: Path) -> dict[str, Any]:
    """results.json with every figure recomputed from the recorded steps (nothing written)."""
    data = load_results(run_dir)
    samples = load_samples(run_dir)
    steps = [step_figures(step, run_dir, samples) for step in load_steps(data)]
    cores = service_cores(data["environment"])
    combos, noise = analysis.combos(steps, cores)
    rounds = int(data["run"]["profile"]["repeats"])
    reference = repeats.speed_reference(steps)
    found_rankings = verdicts.rankings(combos)
    control = data["run"].get("control")
    control_check = verdicts.control_result(combos, control) if control else None
    data["figures"] = {
        "service_cores": cores,
        "noise": {"sigma": noise.overall, "by_workload": noise.by_workload, "rounds": rounds},
        "speed": _speed_summary(steps, reference),
        "steps": [asdict(step) for step in steps],
        "combos": [asdict(c) for c in combos],
        "control": asdict(control_check) if control_check else None,
        "warnings": [
            *data.get("failures", []),
            *analysis.warnings(steps, combos, rounds, cores),
            *(
                [control_paragraph(control_check)]
                if control_check and control_check.separated
                else []
            ),
        ],
    }
    data["verdicts"] = [verdicts.verdict_record(c) for c in combos]
    data["rankings"] = [verdicts.ranking_record(r) for r in found_rankings]
    return data


def _speed_summary(steps: list[StepFigures], reference: float | None) -> dict[str, Any]:
    """The service cores' speed over the run's load steps, relative to its median step."""
    speeds = [repeats.speed(s, reference) for s in steps if s.kind == "load" and s.speed_unit_s]
    if len(speeds) < 2:
        return {"reference_unit_s": reference, "steps": len(speeds)}
    deciles = statistics.quantiles(speeds, n=10)
    return {
        "reference_unit_s": reference,
        "steps": len(speeds),
        "p10": deciles[0],
        "p90": deciles[-1],
        "min": min(speeds),
        "max": max(speeds),
    }


def _estimate_from(raw: dict[str, Any] | None) -> Estimate | None:
    return None if raw is None else Estimate(**raw)


def combos_from(data: dict[str, Any]) -> list[Combo]:
    combos = []
    for raw in data["figures"]["combos"]:
        levels = tuple(
            analysis.Level(**{**level, "reasons": tuple(level["reasons"])})
            for level in raw["levels"]
        )
        estimates = {
            name: _estimate_from(raw[name])
            for name in ("capacity", "knee", "requests_per_cpu_second", "cpu_capacity")
        }
        combos.append(Combo(**{**raw, **estimates, "levels": levels}))
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
    if run.get("control"):
        parts.append(f"--control {run['control']}")
    parts += [f"--{knob.replace('_', '-')} {value}" for knob, value in run["knobs"].items()]
    return " ".join(parts)


def _combo_table(combos: list[Combo]) -> list[str]:
    columns = [
        ("row", TEXT),
        ("capacity (rps)", NUMBER),
        ("knee (rps)", NUMBER),
        ("p99 at the knee (ms)", NUMBER),
        ("requests per CPU-second", NUMBER),
        ("CPU capacity (rps)", NUMBER),
        ("rounds", NUMBER),
        ("limited by", TEXT),
    ]
    ranked = sorted(combos, key=lambda c: c.capacity.value if c.capacity else 0.0, reverse=True)
    rows = [
        [
            c.row,
            fmt_estimate(c.capacity),
            fmt_estimate(c.knee),
            fmt_ms(c.p99_at_knee_ms),
            fmt_estimate(c.requests_per_cpu_second),
            fmt_estimate(c.cpu_capacity),
            str(c.capacity.repeats if c.capacity else 0),
            c.limited_by,
        ]
        for c in ranked
    ]
    return table(columns, rows)


def _fidelity_table(combos: list[Combo]) -> list[str]:
    columns = [
        ("workload", TEXT),
        ("row", TEXT),
        ("service time (ms)", NUMBER),
        ("slots", NUMBER),
        ("Little's-law limit (rps)", NUMBER),
        ("predicted capacity (rps)", NUMBER),
        ("predicted from", TEXT),
        ("capacity / predicted", NUMBER),
        ("served / offered at the knee", NUMBER),
    ]
    rows = [
        [
            c.workload,
            c.row,
            fmt_ms(c.service_time_ms),
            "-" if c.slots is None else f"{c.slots:g}",
            fmt_rps(c.littles_law_rps),
            fmt_rps(c.predicted_capacity_rps),
            c.prediction_basis,
            fmt_ratio(c.capacity_ratio),
            fmt_ratio(c.delivered_at_knee),
        ]
        for c in combos
    ]
    return table(columns, rows)


def _steps_table(steps: list[StepFigures], reference: float | None) -> list[str]:
    columns = [
        ("step", TEXT),
        ("round", NUMBER),
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
        ("speed", NUMBER),
        ("past the knee because", TEXT),
    ]
    rows = [
        [
            f"{s.id}{' (failed)' if s.failure else ' (partial)' if s.partial else ''}",
            str(s.repeat),
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
            f"{repeats.speed(s, reference):.2f}" if s.speed_unit_s else "-",
            s.failure or "; ".join(s.reasons),
        ]
        for s in steps
    ]
    return table(columns, rows)


def _speed_lines(speed: dict[str, Any]) -> list[str]:
    if "p10" not in speed:
        return ["The run has no speed samples: its figures are as measured."]
    unit_us = speed["reference_unit_s"] * 1e6
    return [
        f"The probe's unit of work took {unit_us:.0f} us of CPU in the run's median step. "
        f"Relative to it, the service cores ran at {speed['p10']:.2f}-{speed['p90']:.2f}x "
        f"(10th-90th percentile of {speed['steps']} load steps; extremes {speed['min']:.2f} "
        f"and {speed['max']:.2f}): that much a figure would have moved with the machine alone."
    ]


def _render_all_charts(
    grouped: dict[str, list[Combo]], charts_dir: Path
) -> dict[str, list[tuple[str, str]]]:
    """Every workload's charts, one process per core: matplotlib takes ~0.6 s a chart."""
    if len(grouped) < 2:
        return {w: render_charts(w, group, charts_dir) for w, group in grouped.items()}
    workers = min(len(grouped), len(os.sched_getaffinity(0)))
    with ProcessPoolExecutor(max_workers=workers) as pool:
        made = pool.map(render_charts, grouped, grouped.values(), itertools.repeat(charts_dir))
        return dict(zip(grouped, made, strict=True))


def render_report(run_dir: Path) -> Path:
    """Analyse the run's recorded data, draw its charts and write report.md."""
    data = analyse(run_dir)
    run, environment, figures = data["run"], data["environment"], data["figures"]
    combos = combos_from(data)
    steps = steps_from(data)
    ranked = verdicts.rankings(combos)
    tied = verdicts.ties(combos)
    reference = figures["speed"].get("reference_unit_s")
    state = "complete" if run["complete"] else f"INCOMPLETE ({run['stopped_because']})"
    lines = [
        f"# Benchmark report `{run['id']}`",
        "",
        f"`{command_line(run)}`",
        "",
        f"Started {run['started_at']}, ended {run['ended_at'] or '-'}: {state}, "
        f"{len(steps)} steps in {run['profile']['repeats']} rounds. "
        f"Re-render with `make report RUN={run['id']}`.",
        "",
    ]
    if figures["warnings"]:
        lines += ["## Read this first", ""]
        lines += [f"- {warning}" for warning in figures["warnings"]]
        lines.append("")
    lines += ["## How to read the verdicts", "", PRIMARY_WHY, ""]
    noise = figures["noise"]
    lines += [noise_paragraph(noise["sigma"], noise.get("by_workload", {}), noise["rounds"]), ""]
    if run.get("control"):
        lines += [control_paragraph(verdicts.control_result(combos, run["control"])), ""]
    lines += [
        "## Environment",
        "",
        *table([("", TEXT), ("", TEXT)], environment_rows(environment)),
        "",
    ]
    lines += ["## How it was measured", "", METHOD, ""]
    charts_dir = run_dir / CHARTS_DIR
    grouped = analysis.combos_by_workload(combos)
    charts = _render_all_charts(grouped, charts_dir)
    for workload, group in grouped.items():
        spec = get_workload(workload)
        lines += [
            f"## `{spec.endpoint}`: {spec.what}",
            "",
            f"SLO: p99 at most {spec.slo_p99_ms:g} ms.",
            "",
            verdict(workload, group, ranked, tied),
            "",
            *_combo_table(group),
            "",
        ]
        for caption, chart in charts[workload]:
            lines += [f"![{caption}]({chart})", ""]
    lines += [
        "## The machine's speed",
        "",
        *_speed_lines(figures["speed"]),
        "",
        "## Harness fidelity",
        "",
        f"Served / offered at the knee (target at least {DELIVERY_TARGET}), and the capacity "
        f"against the capacity the levels below it predict (target within "
        f"{CAPACITY_TARGET:.0%}): Little's law where the row has fixed slots, the CPU per "
        "request at the knee where the row kept at least half its cores busy there; no "
        "prediction is drawn elsewhere.",
        "",
        *_fidelity_table(combos),
        "",
        "## Every step",
        "",
        "Speed: how fast the service cores ran during the step, relative to the run's median "
        "step (figures are as measured here, before the speed is taken out).",
        "",
        *_steps_table(steps, reference),
        "",
    ]
    path = run_dir / REPORT_FILE
    write_text_atomically(path, "\n".join(lines))
    return path
