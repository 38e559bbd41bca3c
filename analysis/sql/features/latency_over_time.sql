-- latency_over_time: the q-quantile of request latency per route per time step (the P99 panel).
-- Inputs: f_requests; params $step_ns (BIGINT), $q (DOUBLE in (0,1)), $route (VARCHAR or NULL).
-- Output grain: one row per (route, bucket).
SELECT
    route,
    (start_ns // $step_ns) * $step_ns       AS bucket_ns,
    count(*)                                AS requests,
    quantile_cont(latency_ms, $q)          AS latency_ms,
    avg(CAST(is_error AS DOUBLE))           AS error_rate
FROM f_requests
WHERE in_window AND ($route IS NULL OR route = $route)
GROUP BY ALL
ORDER BY route, bucket_ns;
