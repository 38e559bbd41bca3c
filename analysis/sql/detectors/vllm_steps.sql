-- vllm_steps: vLLM engine state per time step from its own metrics: prefix-cache queries and
-- hits in the step (differences of the cumulative counters per series; a counter reset counts
-- its new value), and the mean number of running / waiting requests (the batch and the queue).
-- Inputs: stg_vllm_metrics; params $since_ns, $until_ns, $step_ns. Output grain: one row per
-- step with any vLLM data point; ts_ns is the step's start. A counter difference lands in the
-- step of the point that closes it (it covers the export interval before that point).
WITH pts AS (
    SELECT metric, ts_ns, value,
           value - lag(value) OVER (PARTITION BY metric, service, pid, engine, model_name
                                    ORDER BY ts_ns) AS d
    FROM stg_vllm_metrics
    WHERE metric IN ('vllm:prefix_cache_hits', 'vllm:prefix_cache_queries',
                     'vllm:num_requests_running', 'vllm:num_requests_waiting')
      AND ts_ns < $until_ns
)
SELECT
    (ts_ns // $step_ns) * $step_ns                                                  AS ts_ns,
    sum(CASE WHEN d < 0 THEN value ELSE d END)
        FILTER (WHERE metric = 'vllm:prefix_cache_hits')                            AS hits,
    sum(CASE WHEN d < 0 THEN value ELSE d END)
        FILTER (WHERE metric = 'vllm:prefix_cache_queries')                         AS queries,
    avg(value) FILTER (WHERE metric = 'vllm:num_requests_running')                  AS running,
    avg(value) FILTER (WHERE metric = 'vllm:num_requests_waiting')                  AS waiting
FROM pts
WHERE ts_ns >= $since_ns
GROUP BY ALL
ORDER BY ts_ns;
