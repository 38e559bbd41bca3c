-- concurrent: what else ran in a trace's services while the trace ran: root spans of other
-- traces (background jobs, gc.pause and event_loop.blocked timeline spans, other requests'
-- roots excluded by kind) that overlap [$from_ns, $to_ns).
-- Inputs: otel_traces. Params: $services (VARCHAR[]), $trace_id (VARCHAR, left out),
-- $from_ns, $to_ns (BIGINT unix ns), $lookback_ns (BIGINT: the longest such span looked for;
-- bounds the scan to row groups that start after from - lookback), $limit (BIGINT).
-- Output grain: one row per overlapping span, longest first.
SELECT epoch_ns("Timestamp") AS start_ns, CAST("Duration" AS BIGINT) AS duration_ns, "TraceId" AS trace_id,
       "SpanId" AS span_id, "ServiceName" AS service, "SpanName" AS name, "SpanKind" AS kind,
       "StatusCode" AS status, "SpanAttributes" AS attributes
FROM otel_traces
WHERE list_contains($services, "ServiceName")
  AND coalesce("ParentSpanId", '') = ''
  AND "SpanKind" IN ('Internal', 'Consumer', 'Producer')
  AND "TraceId" <> $trace_id
  AND "Timestamp" >= make_timestamp_ns($from_ns - $lookback_ns) AND "Timestamp" < make_timestamp_ns($to_ns)
  AND epoch_ns("Timestamp") + "Duration" > $from_ns
ORDER BY "Duration" DESC
LIMIT $limit;
