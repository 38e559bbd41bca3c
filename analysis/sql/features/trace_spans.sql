-- trace_spans: every span of a set of traces (for critical paths), no time filter (a trace may
-- straddle the window's edge). Inputs: stg_spans; param $trace_ids (VARCHAR[]).
-- Output grain: one row per span.
SELECT trace_id, span_id, parent_span_id, service, name, kind, start_ns, end_ns
FROM stg_spans
WHERE trace_id IN (SELECT unnest($trace_ids));
