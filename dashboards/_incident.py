"""Incident board: P99 overlaid with job runs, GC pauses and GPU throttle episodes.

The reference incident (full-sync job every 60 s -> gen-2 GC pauses -> loop stalls -> pool
timeouts -> P99 2 s) shows here as P99 spikes that line up with the job and GC annotations.
"""

from __future__ import annotations

import _gpu
from _kit import RATE, SEL, annotation, board, query, row, series_unit, ts, variables
from grafana_foundation_sdk.builders import dashboard as db

UID = "infersight-incident"
DUR = "http_server_request_duration_seconds"
GC = "infersight_gc_pause_duration_seconds"
JOB = "infersight_job_duration_seconds"

# Annotation queries (Prometheus returns a sample at each step where they hold; each becomes a
# marker). The step and title fields are added in build.py (the SDK's AnnotationQuery lacks them).
ANNOTATIONS = {
    "Job runs": (f"sum by (job_name) (increase({JOB}_count{{{SEL}}}[$__rate_interval])) > 0", "#5794F2", "{{job_name}} ran"),
    "Gen-2 GC pauses": (f'sum by (generation) (increase({GC}_count{{{SEL}, generation="2"}}[$__rate_interval])) > 0',
                        "#F2495C", "gen-{{generation}} GC"),
    "GPU throttling": (f"max by (gpu) ({_gpu.THROTTLE}{{{SEL}}}) > 0", "#FF9830", "GPU {{gpu}} throttled"),
}


def build() -> db.Dashboard:
    d = board(UID, "infersight / Incident",
              "P99 with job runs, GC pauses and GPU throttling as annotations: a periodic job "
              "that causes GC storms shows as P99 spikes aligned with blue and red markers.",
              ["incident"])
    for v in variables():
        d = d.with_variable(v)
    for name, (expr, color, _title) in ANNOTATIONS.items():
        d = d.annotation(annotation(name, expr, color))
    p99 = f"histogram_quantile(0.99, sum by (le) (rate({DUR}_bucket{{{SEL}}}[{RATE}])))"
    d = d.with_row(row("Symptom vs. suspects"))
    main = ts(
        "P99 latency with job runs and GC pause time",
        [query(p99, "P99 latency", ref="A", exemplar=True),
         query(f"sum(rate({GC}_sum{{{SEL}}}[{RATE}]))", "GC pause share", ref="B"),
         query(f"sum(increase({JOB}_count{{{SEL}}}[{RATE}]))", "job runs", ref="C")],
        unit="s", w=24, h=10, report_link=True,
        description="Left axis: P99 in seconds. Right axes: the share of wall time spent in GC "
                    "pauses (percent) and job runs per interval (bars). Annotations mark each job run "
                    "(blue), gen-2 GC (red) and GPU throttling (orange). Click an exemplar dot for the "
                    "slow request's trace.")
    main = series_unit(main, "B", "percentunit", label="GC pause share")
    main = series_unit(main, "C", "short", label="job runs", bars=True)
    d = d.with_panel(main)
    d = d.with_panel(ts("GC pause P99 by generation",
                        [(f"histogram_quantile(0.99, sum by (generation, le) (rate({GC}_bucket{{{SEL}}}[{RATE}])))",
                          "gen {{generation}}")], unit="s", w=8))
    d = d.with_panel(ts("Event-loop lag P99",
                        [(f"histogram_quantile(0.99, sum by (le) (rate(infersight_event_loop_lag_seconds_bucket{{{SEL}}}[{RATE}])))",
                          "loop lag P99")], unit="s", w=8))
    d = d.with_panel(ts("Pool timeouts and wait P95",
                        [(f"sum(rate(db_client_connection_timeouts_total{{{SEL}}}[{RATE}]))", "timeouts/s"),
                         (f"histogram_quantile(0.95, sum by (le) (rate(db_client_connection_wait_time_seconds_bucket{{{SEL}}}[{RATE}])))",
                          "wait P95 (s)")], w=8))
    d = d.with_panel(ts("Job rows per second (full sync = tall spikes)",
                        [(f"sum by (job_name) (rate(infersight_job_rows_total{{{SEL}}}[{RATE}]))", "{{job_name}}")],
                        unit="short", w=12))
    d = d.with_panel(ts("Cache hit ratio",
                        [(f'sum by (cache) (rate(infersight_cache_requests_total{{{SEL}, result="hit"}}[{RATE}])) '
                          f"/ sum by (cache) (rate(infersight_cache_requests_total{{{SEL}}}[{RATE}]))", "{{cache}}")],
                        unit="percentunit", w=12))
    d = d.with_panel(_gpu.throttle_timeline(w=24))
    return d
