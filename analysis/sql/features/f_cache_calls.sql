-- f_cache_calls: cache lookups (spans with a cache.name attribute, as infersight's traced caches
-- write them), hit or miss, with the key hash.
-- Inputs: stg_spans; params $since_ns, $until_ns. Output grain: one row per cache lookup span.
CREATE OR REPLACE TEMP TABLE f_cache_calls AS
SELECT
    trace_id,
    tkey,
    span_id,
    parent_span_id,
    attrs['cache.name']                                                       AS cache,
    lower(coalesce(attrs['cache.hit'], attrs['infersight.cache.hit'], attrs['cache.result'], '')) IN ('true', '1', 'hit', 'yes') AS hit,
    coalesce(attrs['cache.key_hash'], attrs['cache.key.hash'], attrs['infersight.cache.key_hash'],
             attrs['cache.key'])                                              AS key,
    start_ns,
    end_ns,
    duration_ms
FROM stg_spans
WHERE attrs['cache.name'] IS NOT NULL
  AND start_ns >= $since_ns AND start_ns < $until_ns;
