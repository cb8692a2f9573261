"""The k6 series the dashboard and its static checks may name."""

from __future__ import annotations

# What k6 1.1.0 pushes with `-o experimental-prometheus-rw` and
# K6_PROMETHEUS_RW_TREND_AS_NATIVE_HISTOGRAM=true: counters get _total, rates
# _rate, trends become native histograms in seconds. tests/test_dashboards_live.py
# checks this list against what a real k6 run pushed to a real Prometheus.
K6_METRICS = frozenset({
    "k6_checks_rate", "k6_data_received_total", "k6_data_sent_total",
    "k6_dropped_iterations_total", "k6_http_req_blocked_seconds",
    "k6_http_req_connecting_seconds", "k6_http_req_duration_seconds",
    "k6_http_req_failed_rate", "k6_http_req_receiving_seconds",
    "k6_http_req_sending_seconds", "k6_http_req_tls_handshaking_seconds",
    "k6_http_req_waiting_seconds", "k6_http_reqs_total",
    "k6_iteration_duration_seconds", "k6_iterations_total", "k6_vus", "k6_vus_max",
})  # fmt: skip
