-- cache_duplicate_misses: misses for a key while another miss for the same key was still
-- loading it, and how many distinct keys missed in one second at most (TTL-synchronised
-- expiry), per cache per time step.
-- A miss *loads* when its own trace does work while the lookup is open (a span that is not a
-- cache lookup starts inside it: the recomputation). A single-flight waiter does nothing while
-- it awaits the first caller's load, so only duplicate *loads* (a loading miss of a key while
-- another loading miss of the same key is still open) are the no-single-flight signature.
-- When no miss of a cache shows any work in its trace (the loader is not traced), every miss
-- counts as a load.
-- Inputs: f_cache_calls, stg_spans; param $step_ns. Output grain: one row per (cache, step) with misses.
WITH raw AS (
    SELECT c.cache, c.key, c.span_id, c.start_ns, c.end_ns,
           count(s.span_id) > 0 AS did_work
    FROM f_cache_calls c
    LEFT JOIN stg_spans s
           ON s.tkey = c.tkey AND s.span_id <> c.span_id AND NOT starts_with(s.name, 'cache.')
          AND s.start_ns >= c.start_ns AND s.start_ns < c.end_ns
    WHERE NOT c.hit AND c.key IS NOT NULL
    GROUP BY ALL
), traced AS (
    SELECT *, did_work OR NOT bool_or(did_work) OVER (PARTITION BY cache) AS loads
    FROM raw
), misses AS (
    SELECT cache, key, start_ns, end_ns, loads,
           max(end_ns) OVER (PARTITION BY cache, key ORDER BY start_ns
                             ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS prev_end,
           max(CASE WHEN loads THEN end_ns END) OVER (PARTITION BY cache, key ORDER BY start_ns
                             ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS prev_load_end
    FROM traced
), per_second AS (
    SELECT cache, (start_ns // 1000000000) * 1000000000 AS sec_ns, count(DISTINCT key) AS keys
    FROM misses GROUP BY ALL
)
SELECT m.cache, (m.start_ns // $step_ns) * $step_ns AS ts_ns,
       count(*)                                             AS misses,
       count(*) FILTER (WHERE m.prev_end > m.start_ns)      AS concurrent_duplicates,
       count(*) FILTER (WHERE m.loads AND m.prev_load_end > m.start_ns) AS duplicate_loads,
       count(*) FILTER (WHERE m.loads)                      AS loads,
       count(DISTINCT m.key)                                AS keys,
       (SELECT max(keys) FROM per_second p
        WHERE p.cache = m.cache AND p.sec_ns // $step_ns = m.start_ns // $step_ns) AS max_keys_per_second
FROM misses m
GROUP BY ALL;
