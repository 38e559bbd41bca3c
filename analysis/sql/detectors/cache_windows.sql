-- cache_windows: hit ratio per cache per time step.
-- Inputs: f_cache_calls; param $step_ns. Output grain: one row per (cache, step).
SELECT
    cache,
    (start_ns // $step_ns) * $step_ns                   AS ts_ns,
    count(*)                                            AS lookups,
    count(*) FILTER (WHERE hit)                         AS hits,
    count(*) FILTER (WHERE hit) / count(*)::DOUBLE      AS hit_ratio,
    avg(duration_ms) FILTER (WHERE NOT hit)             AS miss_ms,
    avg(duration_ms) FILTER (WHERE hit)                 AS hit_ms
FROM f_cache_calls
GROUP BY ALL
ORDER BY cache, ts_ns;
