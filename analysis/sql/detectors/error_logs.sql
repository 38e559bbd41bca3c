-- error_logs: ERROR-or-worse log records per service in [$lo_ns, $hi_ns), with the commonest body.
-- Inputs: otel_logs. Output grain: one row per service with such records.
SELECT "ServiceName" AS service, count(*) AS records, mode("Body") AS common_body
FROM otel_logs
WHERE "SeverityNumber" >= 17
  AND epoch_ns("Timestamp") >= $lo_ns AND epoch_ns("Timestamp") < $hi_ns
GROUP BY 1
ORDER BY records DESC;
