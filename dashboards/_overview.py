"""Model server overview: traffic, errors, latency percentiles with exemplars, SLO tiles."""

from __future__ import annotations

from _kit import RATE, RSEL, SEL, board, query, row, series_unit, stat_tile, ts, variables
from grafana_foundation_sdk.builders import dashboard as db

UID = "infersight-overview"
DUR = "http_server_request_duration_seconds"
REQ = "http_server_requests_total"
SLO_SECONDS = 0.2  # the reference incident's target: P99 200 ms; a bucket bound in the catalog
VLLM = 'job=~"$job", instance=~"$instance"'
COL = "infersight_collector"  # the collector's own /metrics (not filtered by $job: one collector)


def _ttft(q: float, bucket: str, sel: str) -> str:
    return f"histogram_quantile({q}, sum by (le) (rate({bucket}{{{sel}}}[{RATE}])))"


def _q(p: float, by: str = "") -> str:
    grp = f"le, {by}" if by else "le"
    return f"histogram_quantile({p}, sum by ({grp}) (rate({DUR}_bucket{{{RSEL}}}[{RATE}])))"


def build() -> db.Dashboard:
    d = board(UID, "infersight / Model server overview",
              "Traffic, errors and latency of an instrumented model server; P99 exemplars link "
              "to the trace of a slow request. SLO: P99 < 200 ms, 99.9 % non-5xx.",
              ["overview"])
    for v in variables(route=True):
        d = d.with_variable(v)
    d = d.with_row(row("SLO"))
    d = d.with_panel(stat_tile(
        "Availability (non-5xx)",
        f'1 - (sum(rate({REQ}{{{RSEL}, http_status_class="5xx"}}[$__range])) or vector(0)) '
        f"/ sum(rate({REQ}{{{RSEL}}}[$__range]))",
        unit="percentunit", description="Share of requests without a 5xx over the time range.",
        thresholds=[(None, "red"), (0.99, "orange"), (0.999, "green")]))
    d = d.with_panel(stat_tile(
        "Requests under 200 ms",
        f'sum(rate({DUR}_bucket{{{RSEL}, le="{SLO_SECONDS}"}}[$__range])) '
        f"/ sum(rate({DUR}_count{{{RSEL}}}[$__range]))",
        unit="percentunit", description="Share of requests that met the 200 ms latency objective.",
        thresholds=[(None, "red"), (0.95, "orange"), (0.99, "green")]))
    d = d.with_panel(stat_tile(
        "P99 latency (5m)", 'max(job:http_server_request_duration_seconds:p99_5m{job=~"$job"})',
        unit="s", description="From the recording rule (rules/infersight.rules.yml).",
        thresholds=[(None, "green"), (SLO_SECONDS, "orange"), (1.0, "red")], report_link=True))
    d = d.with_panel(stat_tile(
        "In flight", f"sum(http_server_active_requests{{{SEL}}})", unit="short",
        description="Requests being served right now."))
    d = d.with_row(row("Traffic and errors"))
    d = d.with_panel(ts("Requests per second by route",
                        [(f"sum by (http_route) (rate({REQ}{{{RSEL}}}[{RATE}]))", "{{http_route}}")],
                        unit="reqps"))
    d = d.with_panel(ts("Error ratio by status class",
                        [(f"sum by (http_status_class) (rate({REQ}{{{RSEL}, http_status_class=~\"4xx|5xx\"}}[{RATE}])) "
                          f"/ ignoring(http_status_class) group_left sum(rate({REQ}{{{RSEL}}}[{RATE}]))",
                          "{{http_status_class}}")],
                        unit="percentunit", description="4xx and 5xx as a share of all requests."))
    d = d.with_row(row("Latency"))
    d = d.with_panel(ts(
        "Latency P50 / P95 / P99 (exemplars link to traces)",
        [query(_q(0.5), "P50", ref="A"), query(_q(0.95), "P95", ref="B"),
         query(_q(0.99), "P99", ref="C", exemplar=True)],
        unit="s", w=24, h=9, report_link=True,
        description="Dots are exemplars: trace ids of requests that fell into a bucket; click one "
                    "to open its trace (the datasource's exemplar link)."))
    d = d.with_panel(ts("P99 by route", [(_q(0.99, "http_route"), "{{http_route}}")], unit="s",
                        exemplar=True))
    d = d.with_panel(ts("In-flight requests",
                        [(f"sum by (instance) (http_server_active_requests{{{SEL}}})", "{{instance}}")],
                        unit="short"))
    # infersight's gen_ai metrics (record_generation: any model server) `or` vLLM's own, so the
    # row fills for both; each side is a complete quantile/rate, never a mix of the two histograms.
    d = d.with_row(row("Generation (record_generation or vLLM)"))
    d = d.with_panel(ts(
        "Time to first token P50 / P99",
        [(f"{_ttft(q, 'gen_ai_server_time_to_first_token_seconds_bucket', SEL)} "
          f"or {_ttft(q, 'vllm:time_to_first_token_seconds_bucket', VLLM)}", label)
         for q, label in ((0.5, "P50"), (0.99, "P99"))],
        unit="s", description="gen_ai.server.time_to_first_token from record_generation, else vLLM's TTFT "
                              "histogram; see the vLLM board for more."))
    d = d.with_panel(ts(
        "Tokens per second",
        [(f'sum(rate(gen_ai_client_token_usage_sum{{{SEL}, gen_ai_token_type="input"}}[{RATE}])) '
          f"or sum(rate(vllm:prompt_tokens_total{{{VLLM}}}[{RATE}]))", "prompt"),
         (f'sum(rate(gen_ai_client_token_usage_sum{{{SEL}, gen_ai_token_type="output"}}[{RATE}])) '
          f"or sum(rate(vllm:generation_tokens_total{{{VLLM}}}[{RATE}]))", "generated")],
        unit="short"))
    return _collector_row(d)


def _collector_row(d: db.Dashboard) -> db.Dashboard:
    """The collector's health (`infersight collect` serves /metrics; scrape it as its own job)."""
    d = d.with_row(row("Collector (infersight collect)"))
    d = d.with_panel(ts(
        "Items stored per second",
        [(f"sum by (signal) (rate({COL}_acknowledged_items_total[{RATE}]))", "{{signal}}")],
        unit="short", w=8, description="Spans, metric points and log records committed to DuckDB and "
                                       "acknowledged (an item counts only once it is durable)."))
    d = d.with_panel(ts(
        "Refused per second",
        [(f"sum by (reason) (rate({COL}_rejected_requests_total[{RATE}]))", "{{reason}} (requests)"),
         (f"sum(rate({COL}_rejected_items_total[{RATE}]))", "invalid items")],
        unit="short", w=8, description="Requests refused by reason (overloaded = 503 + Retry-After: the "
                                       "sender retries) and invalid items dropped from accepted requests."))
    d = d.with_panel(ts(
        "Group-commit latency P50 / P99",
        [(f"histogram_quantile({q}, sum by (le) (rate({COL}_commit_duration_seconds_bucket[{RATE}])))", label)
         for q, label in ((0.5, "P50"), (0.99, "P99"))],
        unit="s", w=8, description="Append + commit of one group of requests; acknowledgements wait for it."))
    backlog = ts("Write queue and bytes in flight",
                 [query(f"sum({COL}_queue_rows)", "queued rows", ref="A"),
                  query(f"sum({COL}_inflight_bytes)", "bytes in flight", ref="B")],
                 unit="short", w=12, description="Rows waiting for the writer and request bytes being read or "
                                                 "decoded; both bounded (503 past the limits).")
    d = d.with_panel(series_unit(backlog, "B", "bytes", label="in flight"))
    size = ts("Database size and retention",
              [query(f"sum({COL}_db_size_bytes)", "DuckDB file + WAL", ref="A"),
               query(f"sum(rate({COL}_retention_deleted_rows_total[{RATE}]))", "rows deleted / s", ref="B")],
              unit="bytes", w=12, description="The file grows until --retention / --max-size deletes old rows.")
    return d.with_panel(series_unit(size, "B", "short", label="deleted / s"))
