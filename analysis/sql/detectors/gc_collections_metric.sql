-- gc_collections_metric: collections per generation from the cpython.gc.collections counter
-- (cumulative or delta), for the gen-2 rate when long-pause events are sparse.
-- Inputs: stg_metric_points; params $since_ns, $until_ns.
-- Output grain: one row per (generation, service): collections in the window and per hour.
WITH pts AS (
    SELECT coalesce(attrs['cpython.gc.generation'], attrs['generation']) AS generation, service,
           ts_ns, value, temporality,
           resource['service.instance.id'] AS instance
    FROM stg_metric_points
    WHERE metric = 'cpython.gc.collections' AND ts_ns >= $since_ns AND ts_ns < $until_ns
), per_instance AS (
    SELECT generation, service, instance,
           CASE WHEN any_value(temporality) = 1 THEN sum(value) ELSE max(value) - min(value) END AS n,
           (max(ts_ns) - min(ts_ns)) / 3.6e12 AS hours
    FROM pts GROUP BY ALL
)
SELECT generation, service, sum(n) AS collections, sum(n) / greatest(max(hours), 1e-9) AS per_hour
FROM per_instance GROUP BY ALL ORDER BY generation;
