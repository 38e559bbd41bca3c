-- gpu_steps: NVML samples per GPU per time step: utilisation (0..1), SM clock vs its max,
-- throttled (power/thermal/hardware slowdown), which kind of clock event (a hard one: thermal or
-- hardware slowdown / power brake; or the software power cap), memory used vs total, and the
-- processes holding GPU memory (a co-located process shows up here).
-- Inputs: stg_metric_points (hw.gpu.*, infersight.gpu.*); params $since_ns, $until_ns, $step_ns.
-- Output grain: one row per (gpu, step).
WITH s AS (
    SELECT coalesce(attrs['gpu.index'], attrs['gpu'], attrs['hw.id'], '0') AS gpu, metric,
           coalesce(attrs['infersight.gpu.clock_event.reason'], attrs['reason']) AS reason,
           attrs['process.pid'] AS pid,
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
       max(value) FILTER (WHERE metric = 'infersight.gpu.up')           AS up,
       max(value) FILTER (WHERE metric = 'infersight.gpu.clock_event.active'
                          AND reason IN ('hw_slowdown', 'sw_thermal', 'hw_thermal', 'hw_power_brake'))
                                                                         AS hard_throttle,
       max(value) FILTER (WHERE metric = 'infersight.gpu.clock_event.active'
                          AND reason = 'sw_power_cap')                  AS power_cap,
       list(DISTINCT pid ORDER BY pid) FILTER (WHERE metric = 'infersight.gpu.process.memory.usage'
                                                AND pid IS NOT NULL)   AS pids
FROM s
GROUP BY ALL
ORDER BY gpu, ts_ns;
