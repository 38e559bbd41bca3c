-- f_client_calls: outgoing calls (CLIENT spans) with the peer they went to and, when the peer is
-- instrumented too, the matching SERVER span's duration (client-minus-server = network + queueing).
-- peer: peer.service, else the traced callee's service name, else db.system / server.address /
-- the URL's host, else the span name.
-- Inputs: stg_spans; params $since_ns, $until_ns. Output grain: one row per CLIENT span.
CREATE OR REPLACE TEMP TABLE f_client_calls AS
WITH c AS (
    SELECT * FROM stg_spans
    WHERE kind = 'client' AND start_ns >= $since_ns AND start_ns < $until_ns
)
SELECT
    c.trace_id,
    c.tkey,
    c.span_id,
    c.parent_span_id,
    c.service,
    coalesce(c.attrs['peer.service'], s.service, c.attrs['db.system.name'], c.attrs['db.system'],
             c.attrs['server.address'],
             regexp_extract(coalesce(c.attrs['url.full'], c.attrs['http.url']), '^[a-z]+://([^/?#]+)', 1),
             c.name)                                                          AS peer,
    c.name,
    c.start_ns,
    c.end_ns,
    c.duration_ms,
    s.duration_ms                                                             AS server_ms
FROM c
LEFT JOIN (SELECT parent_span_id, max(duration_ms) AS duration_ms, any_value(service) AS service FROM stg_spans
           WHERE kind = 'server' AND parent_span_id IS NOT NULL
             AND start_ns >= $since_ns - 600000000000 AND start_ns < $until_ns
           GROUP BY parent_span_id) s
       ON s.parent_span_id = c.span_id;
