-- jobs: the f_jobs feature table as the detectors read it.
-- Inputs: f_jobs. Output grain: as f_jobs, oldest first.
SELECT * FROM f_jobs ORDER BY start_ns;
