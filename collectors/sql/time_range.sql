-- time_range: the first and last span start and the span count, to default a search window.
-- Inputs: otel_traces. Params: none. Output grain: one row.
SELECT epoch_ns(min("Timestamp")) AS first_ns, epoch_ns(max("Timestamp")) AS last_ns, count(*) AS spans
FROM otel_traces;
