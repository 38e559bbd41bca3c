-- downstream_hot_calls: when calls to one peer ran slower than a threshold.
-- Inputs: f_client_calls; params $peer (VARCHAR), $threshold_ms (DOUBLE).
-- Output grain: one row: first start and last end of the slow calls, and how many.
SELECT min(start_ns) AS first_ns, max(end_ns) AS last_ns, count(*) AS calls
FROM f_client_calls
WHERE peer = $peer AND duration_ms > $threshold_ms;
