"""Metric specs for HTTP RED, Python runtime, jobs, caches, pools and exporter health.

Owned by the instrument core; see :mod:`infersight.instrument.metrics.catalog`. Every metric below is
exposed on ``/metrics`` under ``name``; those with an ``otel_name`` also go out over OTLP and
land in DuckDB under that name (seconds for durations, as in OTel semconv).
"""

from __future__ import annotations

from infersight.instrument.metrics._spec import MetricSpec

# 5 ms .. 30 s, roughly x2 steps (fits model-server latencies: cheap routes to long generations).
LATENCY_BUCKETS: tuple[float, ...] = (
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75,
    1.0, 1.5, 2.0, 3.0, 5.0, 7.5, 10.0, 15.0, 20.0, 30.0,
)
# 100 µs .. 5 s: GC pauses and event-loop lag.
PAUSE_BUCKETS: tuple[float, ...] = (
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
    0.25, 0.5, 1.0, 2.5, 5.0,
)
SIZE_BUCKETS: tuple[float, ...] = (
    100.0, 1_000.0, 10_000.0, 100_000.0, 1_000_000.0, 10_000_000.0, 100_000_000.0,
)
JOB_BUCKETS: tuple[float, ...] = (
    0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0,
)

# OTel gen_ai semconv advisory buckets.
TTFT_BUCKETS: tuple[float, ...] = (
    0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
)
TOKEN_BUCKETS: tuple[float, ...] = (
    1.0, 4.0, 16.0, 64.0, 256.0, 1024.0, 4096.0, 16384.0, 65536.0, 262144.0, 1048576.0,
)

HTTP_LABELS = ("http_request_method", "http_route", "http_status_class")

METRICS: tuple[MetricSpec, ...] = (
    # --- HTTP RED (semconv http.server.*) -------------------------------------------------
    MetricSpec("http_server_request_duration_seconds", "histogram",
               "Duration of HTTP server requests (OTel semconv http.server.request.duration); "
               "buckets carry trace_id exemplars in OpenMetrics.",
               unit="s", labels=HTTP_LABELS, otel_name="http.server.request.duration",
               source="http", buckets=LATENCY_BUCKETS),
    MetricSpec("http_server_requests", "counter",
               "HTTP server requests completed.",
               labels=HTTP_LABELS, source="http"),
    MetricSpec("http_server_active_requests", "gauge",
               "HTTP server requests in flight (OTel semconv http.server.active_requests).",
               labels=("http_request_method",), otel_name=None, source="http"),
    MetricSpec("http_server_response_body_size_bytes", "histogram",
               "Size of HTTP response bodies (OTel semconv http.server.response.body.size).",
               unit="By", labels=HTTP_LABELS, source="http", buckets=SIZE_BUCKETS),
    # --- Python GC (semconv cpython.gc.* where it exists) ---------------------------------
    MetricSpec("infersight_gc_pause_duration_seconds", "histogram",
               "Stop-the-world pause of one garbage collection, by generation.",
               unit="s", labels=("generation",), otel_name="infersight.gc.pause.duration",
               source="gc", buckets=PAUSE_BUCKETS),
    MetricSpec("cpython_gc_collections", "counter",
               "Garbage collections run, by generation (OTel semconv cpython.gc.collections).",
               labels=("generation",), otel_name="cpython.gc.collections", source="gc"),
    MetricSpec("cpython_gc_collected_objects", "counter",
               "Objects collected by the GC, by generation (semconv cpython.gc.collected_objects).",
               labels=("generation",), otel_name="cpython.gc.collected_objects", source="gc"),
    MetricSpec("cpython_gc_uncollectable_objects", "counter",
               "Uncollectable objects found by the GC, by generation "
               "(semconv cpython.gc.uncollectable_objects).",
               labels=("generation",), otel_name="cpython.gc.uncollectable_objects", source="gc"),
    MetricSpec("infersight_gc_last_long_pause_start_seconds", "gauge",
               "Unix start time of the last GC pause at or above the long-pause threshold.",
               unit="s", labels=("generation",), otel_name="infersight.gc.last_long_pause.start",
               source="gc"),
    # --- asyncio event loop ---------------------------------------------------------------
    MetricSpec("infersight_event_loop_lag_seconds", "histogram",
               "Delay of a periodic loop task beyond its scheduled wake-up (event-loop lag).",
               unit="s", otel_name="infersight.event_loop.lag", source="event_loop",
               buckets=PAUSE_BUCKETS),
    MetricSpec("infersight_event_loop_blocked", "counter",
               "Loop-lag samples above the blocked threshold.",
               otel_name="infersight.event_loop.blocked", source="event_loop"),
    # --- generation (semconv gen_ai.*; record_generation()) --------------------------------
    MetricSpec("gen_ai_server_time_to_first_token_seconds", "histogram",
               "Time from request start to the first generated token "
               "(OTel semconv gen_ai.server.time_to_first_token).",
               unit="s", labels=("gen_ai_request_model",), otel_name="gen_ai.server.time_to_first_token",
               source="gen_ai", buckets=TTFT_BUCKETS),
    MetricSpec("gen_ai_client_token_usage", "histogram",
               "Tokens per generation request, by gen_ai_token_type input|output "
               "(OTel semconv gen_ai.client.token.usage); _sum rates are tokens per second.",
               unit="{token}", labels=("gen_ai_request_model", "gen_ai_token_type"),
               otel_name="gen_ai.client.token.usage", source="gen_ai", buckets=TOKEN_BUCKETS),
    # --- background jobs ------------------------------------------------------------------
    MetricSpec("infersight_job_duration_seconds", "histogram",
               "Duration of traced background/scheduled job runs.",
               unit="s", labels=("job_name", "status"), otel_name="infersight.job.duration",
               source="job", buckets=JOB_BUCKETS),
    MetricSpec("infersight_job_rows", "counter",
               "Rows processed by traced jobs (as reported by the job).",
               labels=("job_name",), otel_name="infersight.job.rows", source="job"),
    MetricSpec("infersight_job_bytes", "counter",
               "Bytes processed by traced jobs (as reported by the job).",
               unit="By", labels=("job_name",), otel_name="infersight.job.bytes", source="job"),
    # --- caches ---------------------------------------------------------------------------
    MetricSpec("infersight_cache_requests", "counter",
               "Cache lookups by result (hit|miss).",
               labels=("cache", "result"), otel_name="infersight.cache.requests", source="cache"),
    MetricSpec("infersight_cache_miss_duration_seconds", "histogram",
               "Latency of the miss path (loading the value) of a traced cache.",
               unit="s", labels=("cache",), otel_name="infersight.cache.miss.duration",
               source="cache", buckets=LATENCY_BUCKETS),
    # --- connection pools (semconv db.client.connection.*) --------------------------------
    MetricSpec("db_client_connection_wait_time_seconds", "histogram",
               "Time to obtain a connection from a pool (semconv db.client.connection.wait_time).",
               unit="s", labels=("pool_name",), otel_name="db.client.connection.wait_time",
               source="pool", buckets=LATENCY_BUCKETS),
    MetricSpec("db_client_connection_timeouts", "counter",
               "Pool acquisitions that timed out (semconv db.client.connection.timeouts).",
               labels=("pool_name",), otel_name="db.client.connection.timeouts", source="pool"),
    # --- CPU (OTLP only: on /metrics prometheus_client's process collector has process_cpu_*) --
    MetricSpec("process_cpu_time_seconds", "counter",
               "CPU time this process used, by cpu.mode (user, system) (OTel semconv process.cpu.time): "
               "the analysis tells a service that runs more code from one that gets less CPU.",
               unit="s", labels=("cpu_mode",), otel_name="process.cpu.time", source="host"),
    MetricSpec("system_cpu_utilization_ratio", "gauge",
               "Share of all of the host's CPU time that was busy since the last collection "
               "(OTel semconv system.cpu.utilization; /proc/stat, Linux): a busy host with a quiet "
               "process is a noisy neighbour.",
               unit="1", otel_name="system.cpu.utilization", source="host"),
    MetricSpec("system_cpu_logical_count", "gauge",
               "Logical CPUs of the host (OTel semconv system.cpu.logical.count): turns process CPU "
               "seconds per second into a share of the host.",
               unit="{cpu}", otel_name="system.cpu.logical.count", source="host"),
    # --- telemetry health -----------------------------------------------------------------
    MetricSpec("infersight_exporter_dropped_spans", "counter",
               "Spans not delivered to the collector: overwritten in the full bounded queue (the "
               "exporter never blocks requests), in batches the collector did not accept, or still "
               "queued (or ended) when telemetry shut down.",
               otel_name="infersight.exporter.dropped_spans", source="exporter"),
    MetricSpec("infersight_hook_errors", "counter",
               "Exceptions raised (and swallowed) by request hooks or telemetry callbacks.",
               labels=("hook",), source="exporter"),
    MetricSpec("infersight_ready", "gauge",
               "1 when the last /readyz evaluation passed, 0 otherwise.",
               source="health"),
    # --- runtime facts --------------------------------------------------------------------
    MetricSpec("infersight_runtime", "info",
               "Runtime facts: Python, torch, CUDA and driver versions and process role.",
               labels=("python_version", "torch_version", "cuda_version", "driver_version",
                       "process_role", "infersight_version"),
               source="runtime"),
    MetricSpec("infersight_model_device", "gauge",
               "1 for the device each declared model serves on (declare_model_device(); a model "
               "module is re-read at every collection); device_type cuda|cpu|...; source "
               "declared|module. A change is also a root span infersight.model.device_change.",
               labels=("model", "device", "device_type", "source"),
               otel_name="infersight.model.device", source="runtime"),
    MetricSpec("infersight_torch_cuda_available", "gauge",
               "torch.cuda.is_available() (1/0), read only once torch is imported by the app.",
               otel_name="infersight.torch.cuda.available", source="runtime"),
)
