-- cpu_usage: per service, in a time range [$lo_ns, $hi_ns): the CPU seconds per second its
-- processes used (process.cpu.time, cumulative per instance: last - first point, all modes) and
-- the host's mean busy share (system.cpu.utilization) and its logical CPUs.
-- Inputs: stg_metric_points; params $lo_ns, $hi_ns. Output grain: one row per service.
WITH proc AS (
    SELECT service, coalesce(resource['service.instance.id'], '') AS instance, attrs['cpu.mode'] AS mode,
           max(value) - min(value) AS cpu_s, (max(ts_ns) - min(ts_ns)) / 1e9 AS span_s
    FROM stg_metric_points
    WHERE metric = 'process.cpu.time' AND ts_ns >= $lo_ns AND ts_ns < $hi_ns
    GROUP BY ALL
), per_instance AS (
    SELECT service, instance, sum(cpu_s) AS cpu_s, max(span_s) AS span_s FROM proc GROUP BY ALL
), host AS (
    SELECT service,
           avg(value) FILTER (WHERE metric = 'system.cpu.utilization') AS host_busy,
           max(value) FILTER (WHERE metric = 'system.cpu.logical.count') AS host_cpus
    FROM stg_metric_points
    WHERE metric IN ('system.cpu.utilization', 'system.cpu.logical.count') AND ts_ns >= $lo_ns AND ts_ns < $hi_ns
    GROUP BY ALL
)
SELECT coalesce(p.service, h.service) AS service,
       sum(p.cpu_s) / nullif(max(p.span_s), 0) AS cpu_per_s,
       any_value(h.host_busy) AS host_busy,
       any_value(h.host_cpus) AS host_cpus
FROM per_instance p FULL OUTER JOIN host h ON h.service = p.service
GROUP BY 1;
