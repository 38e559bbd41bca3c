-- Spans of the traces whose root started in [$since_ns, $until_ns), for the self-time reference ranking.
-- Inputs: otel_traces (collector schema); $since_ns, $until_ns (epoch ns).
-- Output grain: one row per span; `credited` is the service its critical-path time is credited to:
-- a CLIENT span's own time (the wait not covered by the callee's SERVER span: network, queueing) goes to
-- the callee, every other span's to its own service (a JDBC call to the service's own MySQL tables stays
-- with the service that owns them).
WITH roots AS (
    SELECT TraceId
    FROM otel_traces
    WHERE coalesce(ParentSpanId, '') = ''
      AND epoch_ns(Timestamp) >= $since_ns AND epoch_ns(Timestamp) < $until_ns
),
spans AS (
    SELECT t.TraceId, t.SpanId, t.ParentSpanId, t.SpanKind, t.ServiceName,
           epoch_ns(t.Timestamp) AS start_ns, epoch_ns(t.Timestamp) + t.Duration AS end_ns
    FROM otel_traces t SEMI JOIN roots r ON t.TraceId = r.TraceId
),
callee AS (
    SELECT p.TraceId, p.SpanId, min(c.ServiceName) AS service
    FROM spans p JOIN spans c ON c.TraceId = p.TraceId AND c.ParentSpanId = p.SpanId
    WHERE p.SpanKind = 'Client' AND c.ServiceName <> p.ServiceName
    GROUP BY ALL
)
SELECT s.TraceId AS trace_id, s.SpanId AS span_id, s.ParentSpanId AS parent_span_id,
       s.start_ns, s.end_ns, coalesce(k.service, s.ServiceName) AS credited
FROM spans s LEFT JOIN callee k ON k.TraceId = s.TraceId AND k.SpanId = s.SpanId
ORDER BY s.TraceId
