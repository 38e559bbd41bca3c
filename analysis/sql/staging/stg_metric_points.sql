-- stg_metric_points: gauges and sums (counters, up-down counters) as one typed view.
-- Inputs: otel_metrics_gauge, otel_metrics_sum. Output grain: one row per data point.
-- temporality: 1 delta, 2 cumulative, NULL for gauges.
CREATE OR REPLACE TEMP VIEW stg_metric_points AS
SELECT
    "MetricName"            AS metric,
    "ServiceName"           AS service,
    "Attributes"            AS attrs,
    "ResourceAttributes"    AS resource,
    epoch_ns("TimeUnix")    AS ts_ns,
    "Value"                 AS value,
    'gauge'                 AS point_kind,
    CAST(NULL AS INTEGER)   AS temporality
FROM otel_metrics_gauge
UNION ALL BY NAME
SELECT
    "MetricName"            AS metric,
    "ServiceName"           AS service,
    "Attributes"            AS attrs,
    "ResourceAttributes"    AS resource,
    epoch_ns("TimeUnix")    AS ts_ns,
    "Value"                 AS value,
    'sum'                   AS point_kind,
    "AggregationTemporality" AS temporality
FROM otel_metrics_sum;
