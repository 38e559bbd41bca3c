-- pool_stats: per connection pool: acquisitions, wait percentiles, timeouts, largest size seen,
-- the peak number of concurrent waiters (counting waits of 1 ms or more) and when waits occurred.
-- Inputs: f_pool_waits. Output grain: one row per pool.
WITH waits AS (SELECT pool, start_ns, end_ns FROM f_pool_waits WHERE wait_ms >= 1.0),
edges AS (
    SELECT pool, start_ns AS t, 1 AS d FROM waits
    UNION ALL
    SELECT pool, end_ns, -1 FROM waits
), conc AS (
    SELECT pool, sum(d) OVER (PARTITION BY pool ORDER BY t, d ROWS UNBOUNDED PRECEDING) AS waiting FROM edges
)
SELECT p.pool, p.acquisitions, p.wait_p50_ms, p.wait_p95_ms, p.wait_max_ms, p.timeouts, p.pool_size,
       (SELECT max(waiting) FROM conc WHERE conc.pool = p.pool) AS peak_waiters,
       (SELECT min(start_ns) FROM waits w WHERE w.pool = p.pool) AS first_wait_ns,
       (SELECT max(end_ns) FROM waits w WHERE w.pool = p.pool)   AS last_wait_ns
FROM (
    SELECT pool, count(*) AS acquisitions,
           quantile_cont(wait_ms, 0.5) AS wait_p50_ms, quantile_cont(wait_ms, 0.95) AS wait_p95_ms,
           max(wait_ms) AS wait_max_ms, count(*) FILTER (WHERE timed_out) AS timeouts,
           max(pool_size) AS pool_size
    FROM f_pool_waits GROUP BY pool
) p
ORDER BY p.wait_p95_ms DESC;
