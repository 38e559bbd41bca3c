-- metrics: gauge/sum data points for the Python API, optionally one metric name.
-- Inputs: stg_metric_points; params $metric (VARCHAR or NULL), $since_ns, $until_ns.
-- Output grain: one row per data point.
SELECT metric, service, point_kind, temporality, ts_ns, value, attrs
FROM stg_metric_points
WHERE ($metric IS NULL OR metric = $metric)
  AND ts_ns >= $since_ns AND ts_ns < $until_ns
ORDER BY metric, ts_ns;
