-- cold_start_requests: requests served in the first $warmup_ns of an instance that appeared
-- after the window began (a deploy/restart seen in the data, not the window's own start).
-- Inputs: f_requests; param $warmup_ns. Output grain: one row per such request (idx, instance).
WITH first_seen AS (
    SELECT instance, min(start_ns) AS first_ns FROM f_requests GROUP BY instance
), newcomers AS (
    SELECT instance, first_ns FROM first_seen
    WHERE first_ns > (SELECT min(start_ns) FROM f_requests) + $warmup_ns
)
SELECT r.rowid AS idx, r.instance, n.first_ns
FROM f_requests r JOIN newcomers n USING (instance)
WHERE r.start_ns < n.first_ns + $warmup_ns
ORDER BY idx;
