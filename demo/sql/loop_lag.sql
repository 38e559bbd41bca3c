-- Purpose: mean event-loop lag in a window, as the difference of the cumulative histogram
-- (infersight.event_loop.lag) between the last points at or before the window's edges.
-- Inputs: $service, $start, $end.  Grain: one row (NULLs when there are no points).
WITH pts AS (
    SELECT "TimeUnix" AS t, "Sum" AS s, "Count" AS c
    FROM otel_metrics_histogram
    WHERE "ServiceName" = $service AND "MetricName" = 'infersight.event_loop.lag'
), a AS (SELECT s, c FROM pts WHERE t <= $start ORDER BY t DESC LIMIT 1),
   b AS (SELECT s, c FROM pts WHERE t <= $end ORDER BY t DESC LIMIT 1)
SELECT (b.s - coalesce(a.s, 0)) AS lag_sum_s,
       (b.c - coalesce(a.c, 0)) AS samples,
       (b.s - coalesce(a.s, 0)) / nullif(b.c - coalesce(a.c, 0), 0) AS mean_lag_s
FROM b LEFT JOIN a ON true;
