-- periodic_jobs: recurring job runs, their period and duty cycle.
-- Inputs: f_jobs. Output grain: one row per job name with at least one run:
-- runs, median/CV of the gap between starts (period), mean duration, duty cycle, rows/bytes.
WITH runs AS (
    SELECT job, start_ns, end_ns, duration_ms, rows, bytes, trace_id,
           start_ns - lag(start_ns) OVER (PARTITION BY job ORDER BY start_ns) AS gap_ns
    FROM f_jobs
)
SELECT
    job,
    count(*)                                        AS runs,
    median(gap_ns) / 1e9                            AS period_s,
    stddev_samp(gap_ns) / nullif(avg(gap_ns), 0)    AS period_cv,
    avg(duration_ms)                                AS mean_duration_ms,
    avg(duration_ms) / nullif(median(gap_ns) / 1e6, 0) AS duty_cycle,
    avg(rows)                                       AS mean_rows,
    avg(bytes)                                      AS mean_bytes,
    min(start_ns)                                   AS first_start_ns,
    max(end_ns)                                     AS last_end_ns,
    list(start_ns ORDER BY start_ns)                AS starts_ns,
    list(end_ns ORDER BY start_ns)                  AS ends_ns,
    list(trace_id ORDER BY start_ns)                AS trace_ids
FROM runs
GROUP BY job
ORDER BY runs DESC;
