-- Purpose: share of event-loop lag samples above a bucket bound in a window, from the
-- difference of the cumulative histogram (infersight.event_loop.lag) between the first and the
-- last export points inside the window.
-- Inputs: $service, $start, $end, $bound (seconds; must be one of the explicit bounds).
-- Grain: one row (NULLs when there are no points).
WITH pts AS (
    SELECT "TimeUnix" AS t, "Count" AS c, "BucketCounts" AS b, "ExplicitBounds" AS eb
    FROM otel_metrics_histogram
    WHERE "ServiceName" = $service AND "MetricName" = 'infersight.event_loop.lag'
), a AS (SELECT c, b FROM pts WHERE t >= $start ORDER BY t ASC LIMIT 1),
   z AS (SELECT c, b, eb FROM pts WHERE t <= $end ORDER BY t DESC LIMIT 1),
   idx AS (SELECT list_position(z.eb, $bound) AS i FROM z)   -- bucket i+1 starts at bound i
SELECT (z.c - a.c) AS samples,
       (list_sum(z.b[idx.i + 1:]) - list_sum(a.b[idx.i + 1:])) AS above,
       (list_sum(z.b[idx.i + 1:]) - list_sum(a.b[idx.i + 1:]))
           / nullif(z.c - a.c, 0) AS share
FROM z CROSS JOIN idx CROSS JOIN a;
