"""Turn the compose stack's prometheus.yml into one for native processes.

prometheus/prometheus.yml is written for docker compose: targets are service
names (``flask-sync:9001``) and rule files are relative to the config file's
directory. Native processes listen on 127.0.0.1 (ports possibly shifted), and
the generated config lives in the state directory, so both are rewritten.
Anything the native stack cannot honour is an error, never a silent gap.

The rows' scrape job is one definition, ``rows_scrape_job``: prometheus.yml's
``rows`` job is checked against it (tests/test_registry.py) and the matrix
builds its own config from it.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from bench.atomic import write_text_atomically
from bench.paths import PROMETHEUS_DIR
from services.rows import ROWS

# Where compose mounts ./prometheus inside the Prometheus container.
CONTAINER_CONFIG_DIR = PurePosixPath("/etc/prometheus")


ROWS_JOB = "rows"


class PrometheusConfigError(ValueError):
    """prometheus.yml has something the native stack cannot translate."""


def compose_row_targets() -> dict[str, str]:
    """Row name -> its compose scrape address (service name, metrics port)."""
    return {row.name: f"{row.name}:{row.metrics_port}" for row in ROWS}


def rows_scrape_job(targets: Mapping[str, str]) -> dict[str, Any]:
    """The scrape job of the rows: one target per row, labelled with its name.

    ``targets`` maps a row (or a matrix control copy) to its host:port.
    """
    return {
        "job_name": ROWS_JOB,
        "static_configs": [
            {"targets": [target], "labels": {"service": name}} for name, target in targets.items()
        ],
        # bench_service_info carries its own `service` label, equal to the
        # target's; Prometheus keeps the scraped one as exported_service.
        "metric_relabel_configs": [{"action": "labeldrop", "regex": "exported_service"}],
    }


def load_prometheus_config(path: Path) -> dict[str, Any]:
    try:
        config = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as error:
        raise PrometheusConfigError(f"cannot read {path}: {error}") from None
    if not isinstance(config, dict):
        raise PrometheusConfigError(f"{path} is not a YAML mapping")
    return config


def rewrite_targets(config: Mapping[str, Any], targets: Mapping[str, str]) -> dict[str, Any]:
    """A copy of ``config`` with every static target replaced via ``targets``.

    ``targets`` maps compose addresses (``flask-sync:9001``) to native ones
    (``127.0.0.1:9001``). A target missing from the map is an error: scraping
    a name that resolves to nothing would only show up later as an empty panel.
    """
    rewritten = copy.deepcopy(dict(config))
    for job in rewritten.get("scrape_configs") or []:
        job_name = job.get("job_name", "?")
        unsupported = [key for key in job if key.endswith("_sd_configs")]
        if unsupported:
            raise PrometheusConfigError(
                f"scrape job {job_name!r} uses {', '.join(unsupported)}; "
                "the native stack only translates static_configs"
            )
        for group in job.get("static_configs") or []:
            group["targets"] = [_native_target(job_name, t, targets) for t in group["targets"]]
    return rewritten


def _native_target(job_name: str, target: str, targets: Mapping[str, str]) -> str:
    try:
        return targets[target]
    except KeyError:
        known = ", ".join(sorted(targets))
        raise PrometheusConfigError(
            f"scrape job {job_name!r} targets {target!r}, which the native stack does not run "
            f"(it runs: {known})"
        ) from None


def absolute_rule_files(
    config: Mapping[str, Any], config_dir: Path = PROMETHEUS_DIR
) -> dict[str, Any]:
    """A copy of ``config`` whose rule_files point into ``config_dir``.

    Relative entries are relative to the original config's directory; absolute
    ones under the container mount point are mapped back to the repository.
    """
    rewritten = copy.deepcopy(dict(config))
    rule_files = rewritten.get("rule_files") or []
    rewritten["rule_files"] = [str(_host_rule_path(entry, config_dir)) for entry in rule_files]
    if not rewritten["rule_files"]:
        del rewritten["rule_files"]
    return rewritten


def _host_rule_path(entry: str, config_dir: Path) -> Path:
    path = PurePosixPath(entry)
    if not path.is_absolute():
        return config_dir / path
    if path.is_relative_to(CONTAINER_CONFIG_DIR):
        return config_dir / path.relative_to(CONTAINER_CONFIG_DIR)
    raise PrometheusConfigError(
        f"rule file {entry!r} is outside {CONTAINER_CONFIG_DIR}, where compose mounts ./prometheus"
    )


def native_prometheus_config(
    source: Path, targets: Mapping[str, str], config_dir: Path | None = None
) -> dict[str, Any]:
    """The native version of the prometheus.yml at ``source``."""
    config = load_prometheus_config(source)
    rewritten = rewrite_targets(config, targets)
    return absolute_rule_files(rewritten, config_dir or source.parent)


def write_native_prometheus_config(
    source: Path, destination: Path, targets: Mapping[str, str]
) -> Path:
    """Write the native config for ``source`` to ``destination`` and return it."""
    config = native_prometheus_config(source, targets)
    destination.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomically(
        destination,
        "# Generated by `bench up` from "
        f"{source}: do not edit, edit the source.\n" + yaml.safe_dump(config, sort_keys=False),
    )
    return destination
