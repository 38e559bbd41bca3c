-- search_spans: one page of the spans that match a trace search, slowest or newest first.
-- A trace matches when one of its spans matches every filter (the Jaeger query semantics);
-- each row is such a span, with the trace it opens.
-- Inputs: otel_traces. Params: $from_ns, $to_ns (BIGINT unix ns; span start in [from, to));
-- $service, $name (span name), $kind (Server | Client | Internal | Producer | Consumer),
-- $route (http.route), $status ('error': status Error or HTTP >= 500, 'ok': the rest) - each
-- NULL for "any"; $min_ns, $max_ns (BIGINT duration bounds or NULL); up to four attribute
-- filters $k1/$v1 .. $k4/$v4 on span attributes and $r1/$w1 .. $r2/$w2 on resource attributes
-- (NULL key: unused; one slot per filter keeps each a plain map lookup, ~10x cheaper than a
-- list comprehension over every row); $limit, $offset (BIGINT). The ORDER BY column is {order}, filled in from a
-- fixed list (query.py ORDERS: "Timestamp" newest first, "Duration" slowest first), never
-- from input: a plain column lets DuckDB's top-N skip row groups, an expression would not.
-- Output grain: one row per matching span.
SELECT epoch_ns("Timestamp") AS start_ns, "TraceId" AS trace_id, "SpanId" AS span_id,
       "ServiceName" AS service, "SpanName" AS name, "SpanKind" AS kind,
       CAST("Duration" AS BIGINT) AS duration_ns, "StatusCode" AS status,
       "SpanAttributes"['http.route'] AS route,
       "SpanAttributes"['http.response.status_code'] AS http_status,
       coalesce("ParentSpanId", '') = '' AS is_root
FROM otel_traces
WHERE "Timestamp" >= make_timestamp_ns($from_ns) AND "Timestamp" < make_timestamp_ns($to_ns)
  AND ($service IS NULL OR "ServiceName" = $service)
  AND ($name IS NULL OR "SpanName" = $name)
  AND ($kind IS NULL OR "SpanKind" = $kind)
  AND ($route IS NULL OR "SpanAttributes"['http.route'] = $route)
  AND ($min_ns IS NULL OR "Duration" >= $min_ns)
  AND ($max_ns IS NULL OR "Duration" <= $max_ns)
  AND ($status IS NULL
       OR ($status = 'error') = ("StatusCode" = 'Error'
                                 OR coalesce(TRY_CAST("SpanAttributes"['http.response.status_code'] AS INTEGER), 0) >= 500))
  AND ($k1 IS NULL OR "SpanAttributes"[$k1] = $v1)
  AND ($k2 IS NULL OR "SpanAttributes"[$k2] = $v2)
  AND ($k3 IS NULL OR "SpanAttributes"[$k3] = $v3)
  AND ($k4 IS NULL OR "SpanAttributes"[$k4] = $v4)
  AND ($r1 IS NULL OR "ResourceAttributes"[$r1] = $w1)
  AND ($r2 IS NULL OR "ResourceAttributes"[$r2] = $w2)
ORDER BY {order} DESC
LIMIT $limit OFFSET $offset;
