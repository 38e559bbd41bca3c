-- gpu_processes: the processes on each GPU in [$lo_ns, $hi_ns): their peak memory, mean
-- utilisation and energy (the GPU plane's per-process series), with infersight's view of whether
-- each is the instrumented process ('self') or another one ('other').
-- Inputs: stg_metric_points; params $lo_ns, $hi_ns. Output grain: one row per (gpu, pid).
SELECT coalesce(attrs['gpu.index'], attrs['hw.id'], '0')                      AS gpu,
       attrs['process.pid']                                                   AS pid,
       any_value(attrs['process.executable.name'])                            AS name,
       any_value(attrs['infersight.gpu.consumer'])                            AS consumer,
       max(value) FILTER (WHERE metric = 'infersight.gpu.process.memory.usage') AS memory_bytes,
       avg(value) FILTER (WHERE metric = 'infersight.gpu.process.utilization')  AS utilization,
       max(value) FILTER (WHERE metric = 'infersight.gpu.process.energy')
         - min(value) FILTER (WHERE metric = 'infersight.gpu.process.energy')   AS energy_j
FROM stg_metric_points
WHERE metric IN ('infersight.gpu.process.memory.usage', 'infersight.gpu.process.utilization',
                 'infersight.gpu.process.energy')
  AND ts_ns >= $lo_ns AND ts_ns < $hi_ns AND attrs['process.pid'] IS NOT NULL
GROUP BY 1, 2
ORDER BY memory_bytes DESC NULLS LAST;
