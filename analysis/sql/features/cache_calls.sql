-- cache_calls: the f_cache_calls feature table as the detectors read it.
-- Inputs: f_cache_calls. Output grain: as f_cache_calls, oldest first.
SELECT * FROM f_cache_calls ORDER BY start_ns;
