-- time_range: first span start, last span end and span count of the whole source.
-- Inputs: stg_spans. Output grain: one row.
SELECT min(start_ns) AS first_ns, max(end_ns) AS last_ns, count(*) AS spans FROM stg_spans;
