-- nb_request_gpu: per-request GPU attribution for the notebooks (notebook_helpers.gpu_request_costs):
-- the attributes instrument_app(app, gpu=True) puts on each request span.
-- Inputs: f_requests, stg_spans. Output grain: one row per request that carries infersight.gpu.seconds.
SELECT
    r.trace_id,
    r.route,
    r.start_ns,
    r.end_ns,
    r.duration_ms,
    TRY_CAST(s.attrs['infersight.gpu.seconds'] AS DOUBLE)        AS gpu_seconds,
    TRY_CAST(s.attrs['infersight.gpu.busy_seconds'] AS DOUBLE)   AS busy_seconds,
    TRY_CAST(s.attrs['infersight.gpu.energy_j'] AS DOUBLE)       AS energy_j,
    TRY_CAST(s.attrs['infersight.gpu.cost_usd'] AS DOUBLE)       AS cost_usd,
    TRY_CAST(TRY_CAST(s.attrs['infersight.gpu.tokens'] AS DOUBLE) AS BIGINT) AS tokens,
    TRY_CAST(s.attrs['infersight.gpu.util_mean'] AS DOUBLE)      AS util_mean,
    TRY_CAST(s.attrs['infersight.gpu.power_mean_w'] AS DOUBLE)   AS power_mean_w,
    lower(coalesce(s.attrs['infersight.gpu.throttled'], '')) IN ('true', '1') AS throttled
FROM f_requests r
JOIN stg_spans s ON s.span_id = r.span_id AND s.trace_id = r.trace_id
WHERE s.attrs['infersight.gpu.seconds'] IS NOT NULL
ORDER BY r.start_ns;
