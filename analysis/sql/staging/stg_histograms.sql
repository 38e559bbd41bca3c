-- stg_histograms: explicit-bucket histogram points, typed.
-- Inputs: otel_metrics_histogram. Output grain: one row per histogram data point.
CREATE OR REPLACE TEMP VIEW stg_histograms AS
SELECT
    "MetricName"            AS metric,
    "ServiceName"           AS service,
    "Attributes"            AS attrs,
    "ResourceAttributes"    AS resource,
    epoch_ns("TimeUnix")    AS ts_ns,
    CAST("Count" AS BIGINT) AS count,
    "Sum"                   AS sum,
    "BucketCounts"          AS bucket_counts,
    "ExplicitBounds"        AS bounds,
    "Min"                   AS min,
    "Max"                   AS max,
    "AggregationTemporality" AS temporality
FROM otel_metrics_histogram;
