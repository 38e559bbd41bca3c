-- cache_summary: per cache, the usual hit-path and miss-path latency and the miss time range.
-- Inputs: f_cache_calls. Output grain: one row per cache.
SELECT cache,
       count(*)                                              AS lookups,
       median(duration_ms) FILTER (WHERE hit)                AS hit_p50_ms,
       median(duration_ms) FILTER (WHERE NOT hit)            AS miss_p50_ms
FROM f_cache_calls
GROUP BY cache;
