-- red_by_route: rate, errors and duration per service and route, from SERVER spans (requests).
-- Inputs: otel_traces. Params: $from_ns, $to_ns (BIGINT unix ns; span start in [from, to)).
-- An error is status Error or an HTTP status >= 500 (compared as text: codes have three digits). Durations in ns. Quantiles are DuckDB's
-- t-digest approx_quantile (within ~0.1 % here): an exact quantile holds every duration of a
-- group in memory, more than the collector's 128 MB on a busy day.
-- Output grain: one row per (service, route); route is NULL for requests no route matched.
SELECT "ServiceName" AS service, "SpanAttributes"['http.route'] AS route,
       count(*) AS requests,
       count(*) FILTER ("StatusCode" = 'Error' OR "SpanAttributes"['http.response.status_code'] >= '500')
           AS errors,
       approx_quantile("Duration", [0.5, 0.95, 0.99]) AS q_ns,
       max("Duration") AS max_ns
FROM otel_traces
WHERE "SpanKind" = 'Server'
  AND "Timestamp" >= make_timestamp_ns($from_ns) AND "Timestamp" < make_timestamp_ns($to_ns)
GROUP BY ALL
ORDER BY requests DESC, service, route;
