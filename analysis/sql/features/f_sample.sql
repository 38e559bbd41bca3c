-- f_sample: the requests (by idx) whose traces the latency decomposition reads.
-- Inputs: f_requests; param $idx (BIGINT[]). Output grain: one row per sampled request.
CREATE OR REPLACE TEMP TABLE f_sample AS
SELECT rowid AS idx, tkey, span_id, start_ns, end_ns FROM f_requests WHERE rowid IN (SELECT unnest($idx));
