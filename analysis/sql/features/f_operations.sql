-- f_operations: every SERVER span in the analysis range - entry requests and the calls between
-- services - with its own time and whether a failure started in it: a service's own SLI.
-- Inputs: stg_spans, otel_logs; params $since_ns, $until_ns, $window_ns.
-- Output grain: one row per SERVER span.
-- A span failed when its status is Error, its HTTP status 5xx, or an ERROR-or-worse log record
-- was written in it. A failure *starts* in a service when no span of another service below it
-- failed too (a callee's exception is the callee's, not every caller's that passed it on).
-- own_failed: a failure started in this service while this SERVER span ran (in the span itself or
--   in the service's own work below it: Java services log in their controller's INTERNAL span).
-- failed: the span failed, or own_failed.
-- self_ms: duration minus the time its direct children cover (each clipped to it).
CREATE OR REPLACE TEMP TABLE f_operations AS
WITH srv AS (
    SELECT trace_id, tkey, span_id, parent_span_id, service, coalesce(attrs['http.route'], name) AS operation,
           start_ns, end_ns, duration_ms
    FROM stg_spans
    WHERE kind = 'server' AND start_ns >= $since_ns AND start_ns < $until_ns
), span_logs AS (
    SELECT "TraceId" AS trace_id, "SpanId" AS span_id, count(*) AS n FROM otel_logs
    WHERE "SeverityNumber" >= 17 AND coalesce("SpanId", '') <> ''
      AND epoch_ns("Timestamp") >= $since_ns - 600000000000 AND epoch_ns("Timestamp") < $until_ns + 600000000000
    GROUP BY ALL
), sub AS (
    SELECT s.tkey, s.span_id, s.parent_span_id, s.service, s.start_ns, s.end_ns,
           (s.status_code = 'Error' OR coalesce(TRY_CAST(s.attrs['http.response.status_code'] AS INTEGER), 0) >= 500
            OR coalesce(l.n, 0) > 0) AS failed
    FROM stg_spans s SEMI JOIN srv ON s.tkey = srv.tkey
    LEFT JOIN span_logs l ON l.span_id = s.span_id AND l.trace_id = s.trace_id
    WHERE s.start_ns >= $since_ns - 600000000000 AND s.start_ns < $until_ns + 600000000000
), kids AS (
    SELECT c.tkey, c.parent_span_id AS span_id,
           sum(greatest(0, least(c.end_ns, p.end_ns) - greatest(c.start_ns, p.start_ns))) AS child_ns
    FROM sub c JOIN sub p ON p.tkey = c.tkey AND p.span_id = c.parent_span_id
    GROUP BY ALL
), failures AS (
    SELECT tkey, span_id, parent_span_id, service, start_ns FROM sub WHERE failed
), above AS (
    -- every ancestor of a failed span, with the service the failure was in
    WITH RECURSIVE up(tkey, span_id, from_service) AS (
        SELECT tkey, parent_span_id, service FROM failures WHERE parent_span_id IS NOT NULL
        UNION ALL  -- span trees have no cycles; DISTINCT below
        SELECT p.tkey, p.parent_span_id, up.from_service
        FROM up JOIN sub p ON p.tkey = up.tkey AND p.span_id = up.span_id
        WHERE p.parent_span_id IS NOT NULL
    )
    SELECT DISTINCT tkey, span_id, from_service FROM up
), starts AS (
    SELECT f.tkey, f.service, f.start_ns FROM failures f
    WHERE NOT EXISTS (SELECT 1 FROM above a
                      WHERE a.tkey = f.tkey AND a.span_id = f.span_id AND a.from_service <> f.service)
), marked AS (
    SELECT DISTINCT r.tkey, r.span_id
    FROM srv r JOIN starts o ON o.tkey = r.tkey AND o.service = r.service
                              AND o.start_ns >= r.start_ns AND o.start_ns <= r.end_ns
)
SELECT
    r.trace_id, r.tkey, r.span_id, r.service, r.operation, r.start_ns, r.end_ns, r.duration_ms,
    greatest(0.0, r.duration_ms - coalesce(k.child_ns, 0) / 1e6)                  AS self_ms,
    (u.failed OR m.span_id IS NOT NULL)                                           AS failed,
    (m.span_id IS NOT NULL)                                                       AS own_failed,
    r.start_ns >= $window_ns                                                      AS in_window
FROM srv r
JOIN sub u ON u.tkey = r.tkey AND u.span_id = r.span_id
LEFT JOIN kids k ON k.tkey = r.tkey AND k.span_id = r.span_id
LEFT JOIN marked m ON m.tkey = r.tkey AND m.span_id = r.span_id
ORDER BY r.start_ns;
