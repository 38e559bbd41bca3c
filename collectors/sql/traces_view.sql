-- traces_view: traces.sql for sources whose otel_traces is a view (no rowid): every span of some traces, oldest first, with everything the waterfall and the Jaeger
-- model show. Inputs: otel_traces. Params: $trace_ids (VARCHAR[], lower-case hex); $from_ns,
-- $to_ns (BIGINT unix ns: a window known to hold the trace, which lets DuckDB skip row groups
-- by their min/max Timestamp; pass the whole range when unknown).
-- Output grain: one row per span.
SELECT epoch_ns("Timestamp") AS start_ns, "TraceId" AS trace_id, "SpanId" AS span_id,
       coalesce("ParentSpanId", '') AS parent_span_id, "SpanName" AS name, "SpanKind" AS kind,
       "ServiceName" AS service, CAST("Duration" AS BIGINT) AS duration_ns,
       "StatusCode" AS status, "StatusMessage" AS status_message, "ScopeName" AS scope,
       "ScopeVersion" AS scope_version, "TraceState" AS trace_state,
       "SpanAttributes" AS attributes, "ResourceAttributes" AS resource,
       [epoch_ns(t) FOR t IN "Events.Timestamp"] AS event_ns, "Events.Name" AS event_names,
       "Events.Attributes" AS event_attributes,
       "Links.TraceId" AS link_trace_ids, "Links.SpanId" AS link_span_ids
FROM otel_traces
WHERE list_contains($trace_ids, "TraceId")
  AND "Timestamp" >= make_timestamp_ns($from_ns) AND "Timestamp" < make_timestamp_ns($to_ns)
ORDER BY trace_id, start_ns, span_id;
