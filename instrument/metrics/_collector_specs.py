"""Metric specs of the collector's own health (``infersight collect`` serves them on ``/metrics``).

Owned by the collectors part (``collectors/_selfmetrics.py`` builds its metrics from these
specs); listed here because the catalog is the one place every infersight metric name lives
(dashboards/build.py checks the "collector" row against it). Prometheus-only: the collector
does not send telemetry about itself over OTLP.
"""

from __future__ import annotations

from infersight.instrument.metrics._spec import MetricSpec

# 0.5 ms .. 10 s: one group commit (DuckDB append + WAL fsync).
COMMIT_BUCKETS: tuple[float, ...] = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)

SIGNAL = ("signal",)  # traces | metrics | logs

METRICS: tuple[MetricSpec, ...] = (
    MetricSpec("infersight_collector_received_items", "counter",
               "Spans, metric data points and log records in OTLP requests the collector decoded.",
               labels=SIGNAL, source="collector"),
    MetricSpec("infersight_collector_acknowledged_items", "counter",
               "Items committed to DuckDB and acknowledged to the sender (HTTP 200 / gRPC OK).",
               labels=SIGNAL, source="collector"),
    MetricSpec("infersight_collector_rejected_items", "counter",
               "Invalid items dropped from otherwise accepted requests (reported in partial_success).",
               labels=SIGNAL, source="collector"),
    MetricSpec("infersight_collector_rejected_requests", "counter",
               "OTLP requests refused, by reason: unauthorized, forbidden_host (Host header not allowed), "
               "bad_request, too_large, unsupported, timeout (body stalled), overloaded (503/UNAVAILABLE, "
               "the sender retries), storage_error.",
               labels=(*SIGNAL, "reason"), source="collector"),
    MetricSpec("infersight_collector_inflight_bytes", "gauge",
               "Request bytes being read or decoded now (bounded by --max-inflight; 503 above it).",
               unit="By", source="collector"),
    MetricSpec("infersight_collector_queue_rows", "gauge",
               "Decoded rows waiting for the writer's next group commit.",
               source="collector"),
    MetricSpec("infersight_collector_commit_duration_seconds", "histogram",
               "Time to append and commit one group of requests to DuckDB (acknowledgements wait for it).",
               unit="s", source="collector", buckets=COMMIT_BUCKETS),
    MetricSpec("infersight_collector_db_size_bytes", "gauge",
               "Size of the DuckDB file plus its write-ahead log on disk.",
               unit="By", source="collector"),
    MetricSpec("infersight_collector_retention_deleted_rows", "counter",
               "Rows deleted by retention (--retention age or --max-size).",
               source="collector"),
)
