-- internal_server_spans: does the range hold SERVER spans called from another traced service?
-- (only then is there a service graph to check service by service)
-- Inputs: stg_spans; params $since_ns, $until_ns. Output grain: one row, one count (0 or 1).
SELECT count(*) AS n FROM (
    SELECT 1 FROM stg_spans s JOIN stg_spans c ON c.span_id = s.parent_span_id AND c.kind = 'client'
    WHERE s.kind = 'server' AND s.start_ns >= $since_ns AND s.start_ns < $until_ns
      AND c.parent_span_id IS NOT NULL
    LIMIT 1
);
