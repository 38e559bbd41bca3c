-- synth: a synthetic telemetry file for the diagnose benchmark, generated in SQL.
-- Params: $n_requests (BIGINT), $t0_ns (BIGINT), $gap_ns (BIGINT, time between requests).
-- Five spans per request (SERVER request, cache lookup, pool acquire, CLIENT call, model
-- forward) plus a job root span every 60 s; requests that start in the first 6 s of each
-- minute (while the job runs) get a GC pause (attribute, and the gc.pause event of the 250 ms
-- pause that starts each second of the run) and a pool wait.
-- Output: rows inserted into otel_traces (the collectors' schema must exist).
CREATE TEMP TABLE req AS
SELECT
    CAST(i AS BIGINT) AS i,
    lpad(printf('%x', i), 32, '0')                           AS trace_id,
    lpad(printf('%x', i * 8), 16, '0')                       AS sid_server,
    lpad(printf('%x', i * 8 + 1), 16, '0')                   AS sid_cache,
    lpad(printf('%x', i * 8 + 2), 16, '0')                   AS sid_pool,
    lpad(printf('%x', i * 8 + 3), 16, '0')                   AS sid_client,
    lpad(printf('%x', i * 8 + 4), 16, '0')                   AS sid_model,
    CAST($t0_ns AS BIGINT) + i * CAST($gap_ns AS BIGINT)                                     AS start_ns,
    ((i * CAST($gap_ns AS BIGINT)) // 1000000000) % 60 < 6                   AS in_job,
    (hash(i) % 1000) / 1000.0                                AS u1,
    (hash(i + 7919) % 1000) / 1000.0                         AS u2,
    ['/v1/predict', '/v1/embed', '/v1/classify'][1 + CAST(hash(i + 17) % 3 AS INTEGER)] AS route,
    'k' || CAST(hash(i + 3) % 500 AS VARCHAR)                AS key
FROM range(CAST($n_requests AS BIGINT)) t(i);

CREATE TEMP TABLE req2 AS
SELECT *,
    u1 < 0.9                                                 AS hit,
    CASE WHEN in_job THEN 150 + 250 * u2 ELSE 0.2 * u2 END   AS gc_ms,
    CASE WHEN in_job THEN 50 + 100 * u1 ELSE 0.1 * u1 END    AS wait_ms,
    CASE WHEN u1 < 0.9 THEN 0.3 ELSE 10 + 10 * u2 END        AS cache_ms,
    10 + 10 * u2                                             AS down_ms,
    15 + 15 * u1                                             AS model_ms
FROM req;

INSERT INTO otel_traces BY NAME
SELECT make_timestamp_ns(start_ns) AS "Timestamp", trace_id AS "TraceId", sid_server AS "SpanId", '' AS "ParentSpanId",
       'POST ' || route AS "SpanName", 'Server' AS "SpanKind", 'model-server' AS "ServiceName",
       MAP {'service.name': 'model-server', 'service.instance.id': 'pod-1'} AS "ResourceAttributes",
       MAP {'http.route': route, 'http.request.method': 'POST', 'http.response.status_code': '200',
            'infersight.gc.pause_ms': CAST(round(gc_ms, 3) AS VARCHAR)} AS "SpanAttributes",
       CAST((gc_ms + wait_ms + cache_ms + down_ms + model_ms + 1) * 1e6 AS UBIGINT) AS "Duration",
       'Unset' AS "StatusCode",
       CASE WHEN in_job THEN [make_timestamp_ns((start_ns // 1000000000) * 1000000000)] ELSE [] END AS "Events.Timestamp",
       CASE WHEN in_job THEN ['gc.pause'] ELSE [] END AS "Events.Name",
       CASE WHEN in_job THEN [MAP {'generation': '2', 'duration_ms': '250.0'}]
            ELSE [] END AS "Events.Attributes"
FROM req2;

INSERT INTO otel_traces BY NAME
SELECT make_timestamp_ns(start_ns + CAST(gc_ms * 1e6 AS BIGINT)) AS "Timestamp", trace_id AS "TraceId",
       sid_cache AS "SpanId", sid_server AS "ParentSpanId", 'cache.lookup answers' AS "SpanName",
       'Internal' AS "SpanKind", 'model-server' AS "ServiceName",
       MAP {'cache.name': 'answers', 'cache.hit': CASE WHEN hit THEN 'true' ELSE 'false' END,
            'cache.key_hash': key} AS "SpanAttributes",
       CAST(cache_ms * 1e6 AS UBIGINT) AS "Duration", 'Unset' AS "StatusCode"
FROM req2;

INSERT INTO otel_traces BY NAME
SELECT make_timestamp_ns(start_ns + CAST((gc_ms + cache_ms) * 1e6 AS BIGINT)) AS "Timestamp", trace_id AS "TraceId",
       sid_pool AS "SpanId", sid_server AS "ParentSpanId", 'pool.acquire' AS "SpanName",
       'Internal' AS "SpanKind", 'model-server' AS "ServiceName",
       MAP {'db.client.connection.pool.name': 'payments_db',
            'db.client.connection.wait_time': CAST(round(wait_ms / 1e3, 6) AS VARCHAR)} AS "SpanAttributes",
       CAST(wait_ms * 1e6 AS UBIGINT) AS "Duration", 'Unset' AS "StatusCode"
FROM req2;

INSERT INTO otel_traces BY NAME
SELECT make_timestamp_ns(start_ns + CAST((gc_ms + cache_ms + wait_ms) * 1e6 AS BIGINT)) AS "Timestamp",
       trace_id AS "TraceId", sid_client AS "SpanId", sid_server AS "ParentSpanId", 'POST /score' AS "SpanName",
       'Client' AS "SpanKind", 'model-server' AS "ServiceName",
       MAP {'server.address': 'risk-service'} AS "SpanAttributes",
       CAST(down_ms * 1e6 AS UBIGINT) AS "Duration", 'Unset' AS "StatusCode"
FROM req2;

INSERT INTO otel_traces BY NAME
SELECT make_timestamp_ns(start_ns + CAST((gc_ms + cache_ms + wait_ms + down_ms) * 1e6 AS BIGINT)) AS "Timestamp",
       trace_id AS "TraceId", sid_model AS "SpanId", sid_server AS "ParentSpanId", 'model.forward' AS "SpanName",
       'Internal' AS "SpanKind", 'model-server' AS "ServiceName",
       MAP {'gen_ai.request.model': 'demo-small'} AS "SpanAttributes",
       CAST(model_ms * 1e6 AS UBIGINT) AS "Duration", 'Unset' AS "StatusCode"
FROM req2;

INSERT INTO otel_traces BY NAME
SELECT make_timestamp_ns(CAST($t0_ns AS BIGINT) + k * 60000000000) AS "Timestamp", lpad(printf('f%x', k), 32, '0') AS "TraceId",
       lpad(printf('f%x', k), 16, '0') AS "SpanId", '' AS "ParentSpanId", 'payments_full_sync' AS "SpanName",
       'Internal' AS "SpanKind", 'model-server' AS "ServiceName",
       MAP {'infersight.job.name': 'payments_full_sync', 'infersight.job.rows': '500000'} AS "SpanAttributes",
       CAST(6e9 AS UBIGINT) AS "Duration", 'Unset' AS "StatusCode"
FROM range(CAST((CAST($n_requests AS BIGINT) * $gap_ns) // 60000000000 AS BIGINT) + 1) t(k);
