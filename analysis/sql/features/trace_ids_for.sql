-- trace_ids_for: trace ids of requests by idx (exemplars). Inputs: f_requests; param $idx (BIGINT[]).
-- Output grain: one row per requested idx.
SELECT rowid AS idx, trace_id FROM f_requests WHERE rowid IN (SELECT unnest($idx));
