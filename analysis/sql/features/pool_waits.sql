-- pool_waits: the f_pool_waits feature table as the detectors read it.
-- Inputs: f_pool_waits. Output grain: as f_pool_waits, oldest first.
SELECT * FROM f_pool_waits ORDER BY start_ns;
