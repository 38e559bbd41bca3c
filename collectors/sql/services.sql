-- services: every service.name that has spans, for the Jaeger API and the UI's filters.
-- Inputs: otel_traces. Params: $from_ns, $to_ns (BIGINT unix ns; span start in [from, to)).
-- Output grain: one row per service, alphabetical.
SELECT DISTINCT "ServiceName" AS service
FROM otel_traces
WHERE "Timestamp" >= make_timestamp_ns($from_ns) AND "Timestamp" < make_timestamp_ns($to_ns)
  AND "ServiceName" IS NOT NULL AND "ServiceName" <> ''
ORDER BY service;
