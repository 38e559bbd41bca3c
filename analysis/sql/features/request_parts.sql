-- request_parts: f_request_parts pivoted to one row per request (idx) and one column per part
-- ('pool', 'cache_miss:<cache>', 'dependency:<peer>'), milliseconds, NULL where absent.
-- Inputs: f_request_parts. Output grain: one row per request that has any part.
PIVOT f_request_parts ON part USING sum(ms) GROUP BY idx;
