-- decompose_spans: the spans of sampled request traces, each with its own (self) time and the
-- part of a request's latency that time belongs to, for the latency decomposition (_decompose.py).
-- Inputs: stg_spans, f_sample (the sampled requests); params $since_ns, $until_ns.
-- Output grain: one row per span of those traces (load-generator and prober root spans left out).
-- self_ns: the span's duration minus the time its children cover (each child clipped to the
--   span; overlapping children are summed, so a fan-out parent's self time is clipped at 0).
-- role / entity:
--   'net'   a CLIENT span whose callee is traced: its self time is the network and queueing
--           before the callee (entity: the callee's service); the callee's spans carry its own time
--   'dep'   a CLIENT span to an untraced peer (entity: peer.service, else 'db <system>[/<namespace>]'
--           for database calls - one dependency per database (a file path: its file name), never
--           per statement - else the
--           server address or URL host, else the span name)
--   'pool'  a connection-pool acquire (spans carrying a pool-name attribute; entity: the pool), and a
--           CLIENT span inside one, as its child or as a sibling within its interval (SQLAlchemy's
--           instrumentation traces the checkout as a DB 'connect' span: that wait is the pool's,
--           not the database's; a sibling's time is already the pool span's, so its self time is 0)
--   'cache' a cache lookup (spans carrying cache.name; entity: the cache; hit says hit or miss)
--   'self'  anything else: the service's own work (entity: the service)
-- engine_queue_ms / engine_compute_ms: an inference engine's own split of a request span (vLLM
--   writes gen_ai.latency.time_in_queue / time_in_model_prefill / _decode): carved out of the
--   span's own time as the engine's queue and its GPU compute.
WITH s AS (
    SELECT st.*,
           coalesce(st.attrs['db.client.connection.pool.name'], st.attrs['pool.name'],
                    st.attrs['infersight.pool.name']) AS pool_name
    FROM stg_spans st SEMI JOIN f_sample k ON st.tkey = k.tkey
    WHERE st.start_ns >= $since_ns - 600000000000 AND st.start_ns < $until_ns + 600000000000
      AND NOT (st.kind = 'client' AND st.parent_span_id IS NULL)
      AND st.name NOT IN ('gc.pause', 'event_loop.blocked')
),
callee AS (
    SELECT tkey, parent_span_id AS span_id, any_value(service) AS service
    FROM s WHERE kind = 'server' AND parent_span_id IS NOT NULL GROUP BY ALL
),
pools AS (
    SELECT tkey, span_id, parent_span_id, start_ns, end_ns, pool_name AS pool FROM s WHERE pool_name IS NOT NULL
),
in_pool AS (
    SELECT c.tkey, c.span_id, any_value(p.pool) AS pool, bool_and(p.span_id <> c.parent_span_id) AS sibling
    FROM s c JOIN pools p ON p.tkey = c.tkey
     AND (p.span_id = c.parent_span_id
          OR (p.parent_span_id = c.parent_span_id AND c.start_ns >= p.start_ns AND c.end_ns <= p.end_ns + 1000000))
    WHERE c.kind = 'client'
    GROUP BY ALL
),
kids AS (  -- a CLIENT span within a sibling pool span is that span's time: not counted twice
    SELECT c.tkey, c.parent_span_id AS span_id,
           sum(greatest(0, least(c.end_ns, p.end_ns) - greatest(c.start_ns, p.start_ns))) AS child_ns
    FROM s c JOIN s p ON p.tkey = c.tkey AND p.span_id = c.parent_span_id
    LEFT JOIN in_pool ip ON ip.tkey = c.tkey AND ip.span_id = c.span_id
    WHERE NOT coalesce(ip.sibling, false)
    GROUP BY ALL
)
SELECT
    s.tkey, s.span_id, s.parent_span_id, s.kind, s.service, s.name, s.start_ns, s.end_ns,
    CASE WHEN pp.sibling THEN 0
         ELSE greatest(0, (s.end_ns - s.start_ns) - coalesce(kd.child_ns, 0)) END AS self_ns,
    CASE
        WHEN s.kind = 'client' AND pp.pool IS NOT NULL THEN 'pool'
        WHEN s.kind = 'client' AND ce.service IS NOT NULL THEN 'net'
        WHEN s.kind = 'client' THEN 'dep'
        WHEN s.pool_name IS NOT NULL THEN 'pool'
        WHEN s.attrs['cache.name'] IS NOT NULL THEN 'cache'
        ELSE 'self'
    END                                                                       AS role,
    CASE
        WHEN s.kind = 'client' AND pp.pool IS NOT NULL THEN pp.pool
        WHEN s.kind = 'client' AND ce.service IS NOT NULL THEN ce.service
        WHEN s.kind = 'client' THEN coalesce(
            s.attrs['peer.service'],
            CASE WHEN coalesce(s.attrs['db.system.name'], s.attrs['db.system']) IS NOT NULL
                 THEN 'db ' || coalesce(s.attrs['db.system.name'], s.attrs['db.system'])
                      || coalesce('/' || regexp_extract(coalesce(s.attrs['db.namespace'], s.attrs['db.name']),
                                                        '([^/\\]+)$', 1), '') END,
            s.attrs['server.address'],
            regexp_extract(coalesce(s.attrs['url.full'], s.attrs['http.url']), '^[a-z]+://([^/?#:]+)', 1),
            s.name)
        WHEN s.pool_name IS NOT NULL THEN s.pool_name
        WHEN s.attrs['cache.name'] IS NOT NULL THEN s.attrs['cache.name']
        ELSE s.service
    END                                                                       AS entity,
    CASE WHEN s.attrs['cache.name'] IS NOT NULL THEN
        lower(coalesce(s.attrs['cache.hit'], s.attrs['infersight.cache.hit'],
                       CASE WHEN s.attrs['cache.result'] = 'hit' THEN 'true' END, '')) IN ('true', '1', 'hit', 'yes')
    END                                                                       AS hit,
    (s.status_code = 'Error')                                                 AS failed,
    -- an inference engine's own split of its request (vLLM's gen_ai.latency.*, seconds)
    TRY_CAST(s.attrs['gen_ai.latency.time_in_queue'] AS DOUBLE) * 1e3          AS engine_queue_ms,
    coalesce(TRY_CAST(s.attrs['gen_ai.latency.time_in_model_prefill'] AS DOUBLE), 0) * 1e3
        + coalesce(TRY_CAST(s.attrs['gen_ai.latency.time_in_model_decode'] AS DOUBLE), 0) * 1e3 AS engine_compute_ms
FROM s
LEFT JOIN kids kd ON kd.tkey = s.tkey AND kd.span_id = s.span_id
LEFT JOIN callee ce ON ce.tkey = s.tkey AND ce.span_id = s.span_id
LEFT JOIN in_pool pp ON pp.tkey = s.tkey AND pp.span_id = s.span_id;
