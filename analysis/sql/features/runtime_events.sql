-- runtime_events: the f_runtime_events feature table as the detectors read it.
-- Inputs: f_runtime_events. Output grain: as f_runtime_events, oldest first.
SELECT * FROM f_runtime_events ORDER BY start_ns;
