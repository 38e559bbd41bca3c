-- f_request_parts: per request, the time spent in each part the detectors attribute latency to:
-- 'pool' (waiting for a pooled connection), 'cache_miss:<cache>' (miss path of a cache),
-- 'dependency:<peer>' (calls to a downstream peer; cache and pool spans excluded).
-- Inputs: f_requests, f_pool_waits, f_cache_calls, f_client_calls.
-- Output grain: one row per (request idx, part) with ms and the number of spans.
CREATE OR REPLACE TEMP TABLE f_request_parts AS
SELECT r.rowid AS idx, 'pool' AS part, sum(p.wait_ms) AS ms, count(*) AS n
FROM f_pool_waits p JOIN f_requests r USING (tkey)
GROUP BY ALL
UNION ALL
SELECT r.rowid AS idx, 'cache_miss:' || c.cache, sum(c.duration_ms), count(*)
FROM f_cache_calls c JOIN f_requests r USING (tkey)
WHERE NOT c.hit
GROUP BY ALL
UNION ALL
SELECT r.rowid AS idx, 'dependency:' || k.peer, sum(k.duration_ms), count(*)
FROM f_client_calls k JOIN f_requests r USING (tkey)
GROUP BY ALL;
