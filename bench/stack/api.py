"""The stack's Python API for other parts of the project and their tests.

    config = native_stack_config(offset=free_port_offset(), state_dir=tmp_path / "state")
    start_native(config)          # daemonised; returns when every program is healthy
    ... config.prometheus_url, config.row_url("flask-sync"), config.row_metrics_url(...)
    stop_native(config.state_dir) # waits until every process it started is gone

or, as a context manager that always stops the stack:

    with running_native_stack(offset, state_dir) as config: ...

`prometheus_targets(offset)` and `native_prometheus_config(source, targets)`
(or its parts: load_prometheus_config, rewrite_targets, absolute_rule_files)
translate prometheus/prometheus.yml for processes on 127.0.0.1 (any ports).
bench.stack.__init__ stays empty on purpose: the container health check imports
bench.stack.healthcheck every few seconds and must not pay for these imports.
"""

from __future__ import annotations

from bench.stack.layout import (
    Missing,
    NativeStackConfig,
    Program,
    StackError,
    free_port_offset,
    native_stack_config,
    port_is_free,
    prometheus_targets,
)
from bench.stack.native import (
    PortInUseError,
    ProgramStatus,
    StackAlreadyUpError,
    StackNotHealthyError,
    native_status,
    running_native_stack,
    start_native,
    stop_native,
)
from bench.stack.prometheus_config import (
    PrometheusConfigError,
    absolute_rule_files,
    load_prometheus_config,
    native_prometheus_config,
    rewrite_targets,
    write_native_prometheus_config,
)

__all__ = [
    "Missing",
    "NativeStackConfig",
    "PortInUseError",
    "Program",
    "ProgramStatus",
    "PrometheusConfigError",
    "StackAlreadyUpError",
    "StackError",
    "StackNotHealthyError",
    "absolute_rule_files",
    "free_port_offset",
    "load_prometheus_config",
    "native_prometheus_config",
    "native_stack_config",
    "native_status",
    "port_is_free",
    "prometheus_targets",
    "rewrite_targets",
    "running_native_stack",
    "start_native",
    "stop_native",
    "write_native_prometheus_config",
]
