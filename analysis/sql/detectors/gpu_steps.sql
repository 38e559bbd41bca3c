-- gpu_steps: NVML samples per GPU per time step: utilisation (0..1), SM clock vs its max,
-- throttled (power/thermal/hardware slowdown), memory used vs total.
-- Inputs: stg_metric_points (hw.gpu.*, infersight.gpu.*); params $since_ns, $until_ns, $step_ns.
-- Output grain: one row per (gpu, step).
WITH s AS (
    SELECT coalesce(attrs['gpu.index'], attrs['gpu'], attrs['hw.id'], '0') AS gpu, metric,
           (ts_ns // $step_ns) * $step_ns AS ts_ns, value
    FROM stg_metric_points
    WHERE (metric LIKE 'hw.gpu.%' OR metric LIKE 'infersight.gpu.%')
      AND ts_ns >= $since_ns AND ts_ns < $until_ns
)
SELECT gpu, ts_ns,
       avg(CASE WHEN value > 1.0 THEN value / 100.0 ELSE value END)
           FILTER (WHERE metric = 'hw.gpu.utilization')               AS util,
       avg(value) FILTER (WHERE metric = 'infersight.gpu.clock.sm')     AS sm_clock,
       max(value) FILTER (WHERE metric = 'infersight.gpu.clock.sm.max') AS sm_clock_max,
       max(value) FILTER (WHERE metric = 'infersight.gpu.throttled')    AS throttled,
       max(value) FILTER (WHERE metric = 'hw.gpu.memory.usage')         AS mem_used,
       max(value) FILTER (WHERE metric = 'hw.gpu.memory.limit')         AS mem_limit,
       max(value) FILTER (WHERE metric = 'infersight.gpu.up')           AS up
FROM s
GROUP BY ALL
ORDER BY gpu, ts_ns;
