-- stg_vllm_metrics: vLLM's own Prometheus families that the infersight vLLM plugin forwards
-- over OTLP (queue depth, KV-cache usage, preemptions, prefix-cache queries/hits, token
-- counters), under their Prometheus names ('vllm:kv_cache_usage_perc', 'vllm:prefix_cache_hits').
-- Inputs: stg_metric_points. Output grain: one row per data point. Counters are cumulative
-- (temporality 2): take differences per (service, pid, engine, model_name) for rates.
CREATE OR REPLACE TEMP VIEW stg_vllm_metrics AS
SELECT
    'vllm:' || substr(metric, 6)                 AS metric,
    point_kind,
    service,
    resource['process.pid']                      AS pid,
    attrs['engine']                              AS engine,
    attrs['model_name']                          AS model_name,
    ts_ns,
    value
FROM stg_metric_points
WHERE metric LIKE 'vllm.%';
