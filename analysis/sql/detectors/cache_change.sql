-- cache_change: per cache, lookups and misses in the incident [$lo_ns, $hi_ns) and in the baseline
-- [$base_lo_ns, $base_hi_ns), and the incident's first miss (only these counts leave the engine).
-- Inputs: f_cache_calls; params $lo_ns, $hi_ns, $base_lo_ns, $base_hi_ns. Output grain: one row per cache.
SELECT cache,
       count(*) FILTER (WHERE start_ns >= $lo_ns AND start_ns < $hi_ns)                  AS lookups,
       count(*) FILTER (WHERE start_ns >= $lo_ns AND start_ns < $hi_ns AND NOT hit)      AS misses,
       count(*) FILTER (WHERE start_ns >= $base_lo_ns AND start_ns < $base_hi_ns)        AS base_lookups,
       count(*) FILTER (WHERE start_ns >= $base_lo_ns AND start_ns < $base_hi_ns AND NOT hit) AS base_misses,
       min(start_ns) FILTER (WHERE start_ns >= $lo_ns AND start_ns < $hi_ns AND NOT hit) AS first_miss_ns
FROM f_cache_calls
GROUP BY cache;
