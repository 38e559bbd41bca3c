-- spans: the span table for the Python API (Telemetry.spans), optionally one trace only.
-- Inputs: stg_spans; params $since_ns, $until_ns, $trace_id (VARCHAR or NULL), $limit.
-- Output grain: one row per span, oldest first.
SELECT trace_id, span_id, parent_span_id, service, name, kind, start_ns, end_ns, duration_ms,
       status_code, attrs, event_names
FROM stg_spans
WHERE ($trace_id IS NULL OR trace_id = $trace_id)
  AND start_ns >= $since_ns AND start_ns < $until_ns
ORDER BY start_ns
LIMIT $limit;
