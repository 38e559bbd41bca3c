-- cache_duplicate_misses: misses for a key while another miss for the same key was still
-- loading it (no single-flight: the stampede signature), and how many distinct keys missed in
-- one second at most (TTL-synchronised expiry), per cache per time step.
-- Inputs: f_cache_calls; param $step_ns. Output grain: one row per (cache, step) with misses.
WITH misses AS (
    SELECT cache, key, start_ns, end_ns,
           max(end_ns) OVER (PARTITION BY cache, key ORDER BY start_ns
                             ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS prev_end
    FROM f_cache_calls
    WHERE NOT hit AND key IS NOT NULL
), per_second AS (
    SELECT cache, (start_ns // 1000000000) * 1000000000 AS sec_ns, count(DISTINCT key) AS keys
    FROM misses GROUP BY ALL
)
SELECT m.cache, (m.start_ns // $step_ns) * $step_ns AS ts_ns,
       count(*)                                             AS misses,
       count(*) FILTER (WHERE m.prev_end > m.start_ns)      AS concurrent_duplicates,
       count(DISTINCT m.key)                                AS keys,
       (SELECT max(keys) FROM per_second p
        WHERE p.cache = m.cache AND p.sec_ns // $step_ns = m.start_ns // $step_ns) AS max_keys_per_second
FROM misses m
GROUP BY ALL;
