-- f_pool_waits: connection-pool acquisitions: spans that declare the pool they acquire from
-- (db.client.connection.pool.name, as infersight's traced_pool_acquire writes it, or pool.name),
-- never matched by span name (an app's own span named '...pool...' is not a wait).
-- Inputs: stg_spans; params $since_ns, $until_ns. Output grain: one row per acquire span.
-- wait_ms is the recorded wait attribute (semconv db.client.connection.wait_time, seconds or ms
-- variants) or else the span's duration; timed_out marks acquisitions that failed; pool_size and
-- in_use (connections checked out when the wait began) when the acquire declares them.
CREATE OR REPLACE TEMP TABLE f_pool_waits AS
SELECT
    trace_id,
    tkey,
    span_id,
    coalesce(attrs['db.client.connection.pool.name'], attrs['pool.name'], attrs['infersight.pool.name']) AS pool,
    start_ns,
    end_ns,
    coalesce(TRY_CAST(attrs['db.client.connection.wait_time'] AS DOUBLE) * 1000.0,
             TRY_CAST(attrs['infersight.pool.wait_ms'] AS DOUBLE),
             duration_ms)                                                     AS wait_ms,
    TRY_CAST(coalesce(attrs['db.client.connection.pool.size'], attrs['infersight.pool.size']) AS INTEGER) AS pool_size,
    TRY_CAST(attrs['infersight.pool.in_use'] AS INTEGER)                      AS in_use,
    (status_code = 'Error' OR lower(coalesce(attrs['infersight.pool.timeout'], '')) IN ('true', '1')) AS timed_out
FROM stg_spans
WHERE coalesce(attrs['db.client.connection.pool.name'], attrs['pool.name'], attrs['infersight.pool.name']) IS NOT NULL
  AND start_ns >= $since_ns AND start_ns < $until_ns;
