-- histograms: histogram data points for the Python API, optionally one metric name.
-- Inputs: stg_histograms; params $metric (VARCHAR or NULL), $since_ns, $until_ns.
-- Output grain: one row per histogram point.
SELECT metric, service, temporality, ts_ns, count, sum, min, max, bucket_counts, bounds, attrs
FROM stg_histograms
WHERE ($metric IS NULL OR metric = $metric)
  AND ts_ns >= $since_ns AND ts_ns < $until_ns
ORDER BY metric, ts_ns;
