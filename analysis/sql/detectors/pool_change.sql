-- pool_change: per connection pool, in the incident [$lo_ns, $hi_ns) and in the baseline
-- [$base_lo_ns, $base_hi_ns): acquisitions, wait p95, timeouts, largest size and in-use count seen, and the peak
-- number of concurrent waiters (waits of $min_wait_ms or more: the flat top of a saturated pool).
-- Inputs: f_pool_waits; params $lo_ns, $hi_ns, $base_lo_ns, $base_hi_ns, $min_wait_ms.
-- Output grain: one row per (pool, side) with side 'incident' or 'baseline'.
WITH w AS (
    SELECT pool, start_ns, end_ns, wait_ms, timed_out, pool_size, in_use,
           CASE WHEN start_ns >= $lo_ns AND start_ns < $hi_ns THEN 'incident'
                WHEN start_ns >= $base_lo_ns AND start_ns < $base_hi_ns THEN 'baseline' END AS side
    FROM f_pool_waits
), sides AS (SELECT * FROM w WHERE side IS NOT NULL),
edges AS (
    SELECT pool, side, start_ns AS t, 1 AS d FROM sides WHERE wait_ms >= $min_wait_ms
    UNION ALL
    SELECT pool, side, end_ns AS t, -1 AS d FROM sides WHERE wait_ms >= $min_wait_ms
), conc AS (
    SELECT pool, side, sum(d) OVER (PARTITION BY pool, side ORDER BY t, d ROWS UNBOUNDED PRECEDING) AS waiting
    FROM edges
), peak AS (SELECT pool, side, max(waiting) AS peak_waiters FROM conc GROUP BY ALL)
SELECT s.pool, s.side, count(*) AS acquisitions, quantile_cont(s.wait_ms, 0.95) AS wait_p95_ms,
       count(*) FILTER (WHERE s.timed_out) AS timeouts, max(s.pool_size) AS pool_size, max(s.in_use) AS peak_in_use,
       coalesce(any_value(p.peak_waiters), 0) AS peak_waiters
FROM sides s LEFT JOIN peak p ON p.pool = s.pool AND p.side = s.side
GROUP BY s.pool, s.side;
