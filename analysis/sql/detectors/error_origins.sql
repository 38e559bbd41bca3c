-- error_origins: for each failed entry request in [$lo_ns, $hi_ns), the span where its error
-- started: a failed span (status Error, an 'exception' event, or HTTP 5xx) none of whose own
-- children failed - the deepest failure, so a callee's exception is credited to the callee, not
-- to every caller that passed it on. An untraced peer that failed shows as its CLIENT span. A
-- request marked failed only by an ERROR log record (no span status) starts where that record
-- was written (the span it names, else its service).
-- Inputs: f_requests, stg_spans, otel_logs; params $lo_ns, $hi_ns. Output grain: one row per failed request.
WITH r AS (
    SELECT rowid AS idx, tkey FROM f_requests WHERE is_error AND start_ns >= $lo_ns AND start_ns < $hi_ns
), e AS (
    SELECT s.tkey, s.span_id, s.parent_span_id, s.service, s.kind, s.name, s.start_ns,
           coalesce(s.attrs['http.route'], s.name) AS operation,
           list_contains(s.event_names, 'exception') AS has_exception
    FROM stg_spans s SEMI JOIN r ON s.tkey = r.tkey
    WHERE s.status_code = 'Error' OR list_contains(s.event_names, 'exception')
       OR coalesce(TRY_CAST(s.attrs['http.response.status_code'] AS INTEGER), 0) >= 500
), leaf AS (
    SELECT e.* FROM e
    WHERE NOT EXISTS (SELECT 1 FROM e c WHERE c.tkey = e.tkey AND c.parent_span_id = e.span_id)
), logged AS (
    -- failures only a log record tells of: the span the record names (else its service)
    SELECT hash(lg."TraceId") AS tkey, lg."ServiceName" AS service, s.kind,
           coalesce(s.attrs['http.route'], s.name, lg."ServiceName") AS operation,
           epoch_ns(lg."Timestamp") AS start_ns, true AS has_exception
    FROM otel_logs lg
    LEFT JOIN stg_spans s ON s.span_id = lg."SpanId" AND s.trace_id = lg."TraceId"
    WHERE lg."SeverityNumber" >= 17 AND hash(lg."TraceId") IN (SELECT tkey FROM r)
      AND hash(lg."TraceId") NOT IN (SELECT tkey FROM leaf)
), origin AS (
    SELECT tkey, service, kind, operation, start_ns, has_exception FROM leaf
    UNION ALL
    SELECT tkey, service, kind, operation, start_ns, has_exception FROM logged
)
SELECT r.idx,
       arg_max(l.service, l.start_ns)       AS service,
       arg_max(l.operation, l.start_ns)     AS operation,
       arg_max(l.kind, l.start_ns)          AS kind,
       bool_or(l.has_exception)             AS has_exception
FROM r JOIN origin l ON l.tkey = r.tkey
GROUP BY r.idx;
