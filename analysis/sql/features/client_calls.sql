-- client_calls: the f_client_calls feature table as the detectors read it.
-- Inputs: f_client_calls. Output grain: as f_client_calls, oldest first.
SELECT * FROM f_client_calls ORDER BY start_ns;
