-- Purpose: mean event-loop lag in a window, as the difference of the cumulative histogram
-- (infersight.event_loop.lag) between the first and the last export points inside the window
-- (so no neighbouring window leaks in; the export interval is ~2 s).
-- Inputs: $service, $start, $end.  Grain: one row (NULLs when there are no points).
WITH pts AS (
    SELECT "TimeUnix" AS t, "Sum" AS s, "Count" AS c
    FROM otel_metrics_histogram
    WHERE "ServiceName" = $service AND "MetricName" = 'infersight.event_loop.lag'
), a AS (SELECT s, c FROM pts WHERE t >= $start ORDER BY t ASC LIMIT 1),
   b AS (SELECT s, c FROM pts WHERE t <= $end ORDER BY t DESC LIMIT 1)
SELECT (b.s - a.s) AS lag_sum_s,
       (b.c - a.c) AS samples,
       (b.s - a.s) / nullif(b.c - a.c, 0) AS mean_lag_s
FROM b CROSS JOIN a;
