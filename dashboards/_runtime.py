"""Python runtime: GC pauses by generation, collections, event-loop lag, jobs, caches, pools."""

from __future__ import annotations

from _kit import RATE, SEL, board, heat, info_table, row, stat_tile, ts, variables
from grafana_foundation_sdk.builders import dashboard as db

UID = "infersight-runtime"
GC = "infersight_gc_pause_duration_seconds"
LAG = "infersight_event_loop_lag_seconds"
JOB = "infersight_job_duration_seconds"
CACHE = "infersight_cache_requests_total"


def build() -> db.Dashboard:
    d = board(UID, "infersight / Python runtime",
              "What the interpreter did besides serving: GC pauses (gen 2 pauses stall the event "
              "loop), loop lag, background jobs, caches and connection pools.", ["runtime"])
    for v in variables():
        d = d.with_variable(v)
    d = d.with_row(row("Garbage collection"))
    d = d.with_panel(heat("GC pause histogram (all generations)",
                          f"sum by (le) (increase({GC}_bucket{{{SEL}}}[{RATE}]))",
                          description="Count of pauses per duration bucket."))
    d = d.with_panel(ts("GC pause P99 by generation",
                        [(f"histogram_quantile(0.99, sum by (generation, le) (rate({GC}_bucket{{{SEL}}}[{RATE}])))",
                          "gen {{generation}}")], unit="s", report_link=True))
    d = d.with_panel(ts("Time in GC pauses (share of wall time) by generation",
                        [(f"sum by (generation) (rate({GC}_sum{{{SEL}}}[{RATE}]))", "gen {{generation}}")],
                        unit="percentunit", stack=True,
                        description="Seconds paused per second; 0.05 = 5 % of the time stopped."))
    d = d.with_panel(ts("Collections per second by generation",
                        [(f"sum by (generation) (rate(cpython_gc_collections_total{{{SEL}}}[{RATE}]))",
                          "gen {{generation}}")], unit="ops"))
    d = d.with_panel(ts("Objects collected per second by generation",
                        [(f"sum by (generation) (rate(cpython_gc_collected_objects_total{{{SEL}}}[{RATE}]))",
                          "gen {{generation}}")], unit="short", w=24, h=6))
    d = d.with_row(row("Event loop"))
    d = d.with_panel(ts("Event-loop lag P50 / P99",
                        [(f"histogram_quantile(0.5, sum by (le) (rate({LAG}_bucket{{{SEL}}}[{RATE}])))", "P50"),
                         (f"histogram_quantile(0.99, sum by (le) (rate({LAG}_bucket{{{SEL}}}[{RATE}])))", "P99")],
                        unit="s"))
    d = d.with_panel(ts("Blocked-loop samples per second",
                        [(f"sum(rate(infersight_event_loop_blocked_total{{{SEL}}}[{RATE}]))", "blocked")],
                        unit="ops"))
    # The job's name is the catalog label `job_name` (not `job`, which is the scrape target's).
    d = d.with_row(row("Background jobs"))
    d = d.with_panel(ts("Job runs by job and status",
                        [(f"sum by (job_name, status) (increase({JOB}_count{{{SEL}}}[{RATE}]))", "{{job_name}} {{status}}")],
                        unit="short", bars=True, report_link=True))
    d = d.with_panel(ts("Mean job duration",
                        [(f"sum by (job_name) (rate({JOB}_sum{{{SEL}}}[{RATE}])) / sum by (job_name) (rate({JOB}_count{{{SEL}}}[{RATE}]))",
                          "{{job_name}}")], unit="s"))
    d = d.with_panel(ts("Rows processed by jobs per second",
                        [(f"sum by (job_name) (rate(infersight_job_rows_total{{{SEL}}}[{RATE}]))", "{{job_name}}")],
                        unit="short", w=24, h=6,
                        description="A full sync shows as a tall periodic spike; incremental sync stays flat."))
    d = d.with_row(row("Caches and pools"))
    d = d.with_panel(ts("Cache hit ratio",
                        [(f'sum by (cache) (rate({CACHE}{{{SEL}, result="hit"}}[{RATE}])) '
                          f"/ sum by (cache) (rate({CACHE}{{{SEL}}}[{RATE}]))", "{{cache}}")],
                        unit="percentunit"))
    d = d.with_panel(ts("Cache miss latency P95",
                        [(f"histogram_quantile(0.95, sum by (cache, le) (rate(infersight_cache_miss_duration_seconds_bucket{{{SEL}}}[{RATE}])))",
                          "{{cache}}")], unit="s"))
    d = d.with_panel(ts("Pool wait P95",
                        [(f"histogram_quantile(0.95, sum by (pool_name, le) (rate(db_client_connection_wait_time_seconds_bucket{{{SEL}}}[{RATE}])))",
                          "{{pool_name}}")], unit="s"))
    d = d.with_panel(ts("Pool timeouts per second",
                        [(f"sum by (pool_name) (rate(db_client_connection_timeouts_total{{{SEL}}}[{RATE}]))",
                          "{{pool_name}}")], unit="ops"))
    d = d.with_row(row("Telemetry health"))
    d = d.with_panel(stat_tile("Dropped spans (range)",
                               f"sum(increase(infersight_exporter_dropped_spans_total{{{SEL}}}[$__range]))",
                               unit="short", thresholds=[(None, "green"), (1, "orange")]))
    d = d.with_panel(stat_tile("Hook errors (range)",
                               f"sum(increase(infersight_hook_errors_total{{{SEL}}}[$__range])) or vector(0)",
                               unit="short", thresholds=[(None, "green"), (1, "red")],
                               description="0 when no hook ever failed (the family has no series then)."))
    d = d.with_panel(stat_tile("Ready", f"min(infersight_ready{{{SEL}}})", unit="bool",
                               thresholds=[(None, "red"), (1, "green")]))
    d = d.with_panel(stat_tile("Scrape duration", f"max(scrape_duration_seconds{{{SEL}}})", unit="s"))
    d = d.with_panel(info_table("Runtime", f"infersight_runtime_info{{{SEL}}}"))
    return d
