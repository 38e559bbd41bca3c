-- pool_stats: per connection pool: acquisitions, wait percentiles, timeouts, largest size seen,
-- and the peak number of concurrent waiters.
-- Inputs: f_pool_waits. Output grain: one row per pool.
WITH edges AS (
    SELECT pool, start_ns AS t, 1 AS d FROM f_pool_waits
    UNION ALL
    SELECT pool, end_ns, -1 FROM f_pool_waits
), conc AS (
    SELECT pool, sum(d) OVER (PARTITION BY pool ORDER BY t, d ROWS UNBOUNDED PRECEDING) AS waiting FROM edges
)
SELECT p.pool, p.acquisitions, p.wait_p50_ms, p.wait_p95_ms, p.wait_max_ms, p.timeouts, p.pool_size,
       (SELECT max(waiting) FROM conc WHERE conc.pool = p.pool) AS peak_waiters
FROM (
    SELECT pool, count(*) AS acquisitions,
           quantile_cont(wait_ms, 0.5) AS wait_p50_ms, quantile_cont(wait_ms, 0.95) AS wait_p95_ms,
           max(wait_ms) AS wait_max_ms, count(*) FILTER (WHERE timed_out) AS timeouts,
           max(pool_size) AS pool_size
    FROM f_pool_waits GROUP BY pool
) p
ORDER BY p.wait_p95_ms DESC;
