-- gpu_throttle_reasons: how long each clock-event (throttle) reason was active, per GPU.
-- Inputs: stg_metric_points (infersight.gpu.clock_event.active); params $since_ns, $until_ns.
-- Output grain: one row per (gpu, reason) with the share of samples in which it was active.
SELECT coalesce(attrs['gpu.index'], attrs['gpu'], attrs['hw.id'], '0') AS gpu,
       coalesce(attrs['infersight.gpu.clock_event.reason'], attrs['reason']) AS reason,
       avg(CASE WHEN value > 0 THEN 1.0 ELSE 0.0 END)                    AS active_share
FROM stg_metric_points
WHERE metric = 'infersight.gpu.clock_event.active' AND ts_ns >= $since_ns AND ts_ns < $until_ns
GROUP BY ALL
HAVING active_share > 0
ORDER BY active_share DESC;
