-- red_series: requests, errors and P99 per step for each service and route (SERVER spans).
-- Inputs: otel_traces. Params: $from_ns, $to_ns (BIGINT unix ns; span start in [from, to));
-- $step_ns (BIGINT bucket width). Routes and errors as in red_by_route.sql. Durations in ns;
-- the P99 is reservoir_quantile over up to 10,000 requests per bucket (exact below that,
-- bounded memory).
-- Output grain: one row per (service, span name, bucket) that had requests.
SELECT "ServiceName" AS service, "SpanName" AS route,
       (epoch_ns("Timestamp") - $from_ns) // $step_ns AS bucket,
       count(*) AS requests,
       count(*) FILTER ("StatusCode" = 'Error') AS errors,
       reservoir_quantile("Duration", 0.99, 10000) AS p99_ns
FROM otel_traces
WHERE "SpanKind" = 'Server'
  AND "Timestamp" >= make_timestamp_ns($from_ns) AND "Timestamp" < make_timestamp_ns($to_ns)
GROUP BY ALL
ORDER BY service, route, bucket;
