-- probe_latency: what an out-of-process prober (infersight probe: CLIENT spans, resource
-- infersight.role = 'probe') saw in [$lo_ns, $hi_ns): requests, P50/P99 and failures. A client-side
-- latency series for servers with no traced caller.
-- Inputs: stg_spans; params $lo_ns, $hi_ns. Output grain: one row.
SELECT count(*) AS requests,
       quantile_cont(duration_ms, 0.5) AS p50_ms,
       quantile_cont(duration_ms, 0.99) AS p99_ms,
       count(*) FILTER (WHERE status_code = 'Error'
                        OR coalesce(TRY_CAST(attrs['http.response.status_code'] AS INTEGER), 0) >= 500) AS failures
FROM stg_spans
WHERE kind = 'client' AND parent_span_id IS NULL AND resource['infersight.role'] = 'probe'
  AND start_ns >= $lo_ns AND start_ns < $hi_ns;
