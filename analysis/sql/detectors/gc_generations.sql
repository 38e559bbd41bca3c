-- gc_generations: GC pauses per generation in the window, and the gen-2 rate.
-- Inputs: f_runtime_events (kind 'gc'); params $since_ns, $until_ns.
-- Output grain: one row per generation: pauses, total/p99/max pause ms, pauses per hour.
SELECT
    coalesce(generation, -1)                                    AS generation,
    count(*)                                                    AS pauses,
    sum(duration_ms)                                            AS total_ms,
    quantile_cont(duration_ms, 0.99)                            AS p99_ms,
    max(duration_ms)                                            AS max_ms,
    count(*) / greatest(($until_ns - $since_ns) / 3.6e12, 1e-9) AS per_hour
FROM f_runtime_events
WHERE kind = 'gc'
GROUP BY ALL
ORDER BY generation;
