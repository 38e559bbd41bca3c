"""Nezha Train-Ticket CSVs -> OTLP protobuf requests (traces, logs, metrics).

Trace CSV columns: TraceID, SpanID, ParentID (``root`` for the root), PodName, OperationName,
StartTimeUnixNano, EndTimeUnixNano, Duration (µs). The spans were recorded by the OpenTelemetry Java
agent, but the CSV kept neither kind nor status nor attributes, so they are restored from the names the
agent gives: a path (``/api/v1/...``, the gateway's ``/*``) is a SERVER span (its parent is the root or a
span of another pod), ``HTTP GET|POST|PUT|...`` a CLIENT span, ``SELECT ts.table`` (a JDBC leaf) a
CLIENT span to MySQL, ``<exchange> send`` / ``<queue> process`` RabbitMQ PRODUCER / CONSUMER, everything
else (controllers, repositories, Hibernate ``SELECT Entity``/``Session.*``) INTERNAL. Status stays unset:
the data has none (errors are in the logs). Rows repeated across minute files are kept once.

Log CSV columns: Timestamp, TimeUnixNano, Node, PodName, Container, TraceID, SpanID, Log (a Docker JSON
line whose ``log`` field is the Logback line ``HH:MM:SS.mmm LEVEL logger#line TraceID: .. SpanID: .. msg``).
Metric CSV: one row per pod and minute (cAdvisor + Istio); a few columns become OTLP gauges.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import re
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, InstrumentationScope, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs
from opentelemetry.proto.metrics.v1.metrics_pb2 import (
    Gauge,
    Metric,
    NumberDataPoint,
    ResourceMetrics,
    ScopeMetrics,
)
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

from benchmarks.rca.nezha._cases import NS, service_of

SCOPE = InstrumentationScope(name="benchmarks.rca.nezha", version="1")
BATCH = 4000  # spans / log records per request (well under the collector's 64 MiB body limit)
_JDBC = re.compile(r"^(SELECT|INSERT|UPDATE|DELETE) (\w+)\.(\w+)$")
_HTTP = re.compile(r"^HTTP ([A-Z]+)$")
_LEVEL = re.compile(r"^\S+\s+(TRACE|DEBUG|INFO|WARN|WARNING|ERROR|FATAL)\b")
_ISO = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?Z?$")
_SEVERITY = {"TRACE": 1, "DEBUG": 5, "INFO": 9, "WARN": 13, "WARNING": 13, "ERROR": 17, "FATAL": 21}
# metric CSV column -> (OTLP name, unit, scale)
METRICS: dict[str, tuple[str, str, float]] = {
    "CpuUsage(m)": ("k8s.pod.cpu.usage", "{cpu}", 1e-3),
    "CpuUsageRate(%)": ("nezha.pod.cpu.usage_rate", "%", 1.0),
    "MemoryUsage(Mi)": ("k8s.pod.memory.usage", "By", 1024.0 * 1024.0),
    "NetworkReceiveBytes": ("nezha.pod.network.receive_rate", "By/s", 1.0),
    "NetworkTransmitBytes": ("nezha.pod.network.transmit_rate", "By/s", 1.0),
    "PodServerLatencyP90(s)": ("nezha.pod.server.latency.p90", "s", 1.0),
    "PodServerLatencyP99(s)": ("nezha.pod.server.latency.p99", "s", 1.0),
    "PodWorkload(Ops)": ("nezha.pod.workload", "{request}/s", 1.0),
    "PodSuccessRate(%)": ("nezha.pod.success_rate", "%", 1.0),
}


def _kv(key: str, value: Any) -> KeyValue:
    if isinstance(value, bool):
        return KeyValue(key=key, value=AnyValue(bool_value=value))
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    if isinstance(value, float):
        return KeyValue(key=key, value=AnyValue(double_value=value))
    return KeyValue(key=key, value=AnyValue(string_value=str(value)))


def resource_for(pod: str, **extra: str) -> Resource:
    attrs = {"service.name": service_of(pod), "service.instance.id": pod, "k8s.pod.name": pod, **extra}
    return Resource(attributes=[_kv(k, v) for k, v in attrs.items()])


def read_rows(files: Iterable[Path], key: Sequence[str]) -> list[dict[str, str]]:
    """All rows of the CSV files, each distinct ``key`` once (minute files overlap at their edges)."""
    seen: set[tuple[str, ...]] = set()
    out: list[dict[str, str]] = []
    for path in files:
        with open(path, newline="", encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                k = tuple(row[c] for c in key)
                if k not in seen:
                    seen.add(k)
                    out.append(row)
    return out


def span_kind(name: str, parent_id: str) -> int:
    if parent_id == "root" or name.startswith("/"):
        return Span.SPAN_KIND_SERVER
    if _HTTP.match(name) or _JDBC.match(name):
        return Span.SPAN_KIND_CLIENT
    if name.endswith(" send"):
        return Span.SPAN_KIND_PRODUCER
    if name.endswith(" process"):
        return Span.SPAN_KIND_CONSUMER
    return Span.SPAN_KIND_INTERNAL


def _span_attrs(row: dict[str, str], kind: int, parent: dict[str, str] | None,
                callee: str | None) -> dict[str, Any]:
    name = row["OperationName"]
    attrs: dict[str, Any] = {}
    if kind == Span.SPAN_KIND_SERVER:
        attrs["http.route"] = name
        m = _HTTP.match(parent["OperationName"]) if parent else None
        if m:
            attrs["http.request.method"] = m.group(1)
    elif (m := _HTTP.match(name)) is not None:
        attrs["http.request.method"] = m.group(1)
        if callee:
            attrs["server.address"] = callee
            attrs["peer.service"] = callee
    elif (m := _JDBC.match(name)) is not None:
        attrs.update({"db.system": "mysql", "db.operation": m.group(1), "db.name": m.group(2),
                      "db.sql.table": m.group(3)})
    elif kind in (Span.SPAN_KIND_PRODUCER, Span.SPAN_KIND_CONSUMER):
        attrs.update({"messaging.system": "rabbitmq", "messaging.destination.name": name.rsplit(" ", 1)[0]})
    return attrs


def _batches(groups: dict[str, list[Any]], size: int) -> Iterator[list[tuple[str, list[Any]]]]:
    batch: list[tuple[str, list[Any]]] = []
    n = 0
    for pod, items in groups.items():
        for i in range(0, len(items), size):
            chunk = items[i:i + size]
            batch.append((pod, chunk))
            n += len(chunk)
            if n >= size:
                yield batch
                batch, n = [], 0
    if batch:
        yield batch


def trace_requests(rows: list[dict[str, str]], batch: int = BATCH) -> Iterator[ExportTraceServiceRequest]:
    """OTLP trace requests, spans grouped by pod (one resource per pod)."""
    by_id = {r["SpanID"]: r for r in rows}
    callee: dict[str, str] = {}
    for r in rows:
        parent = by_id.get(r["ParentID"])
        if parent is not None and parent["PodName"] != r["PodName"]:
            callee[parent["SpanID"]] = service_of(r["PodName"])
    by_pod: dict[str, list[Span]] = defaultdict(list)
    for r in rows:
        kind = span_kind(r["OperationName"], r["ParentID"])
        attrs = _span_attrs(r, kind, by_id.get(r["ParentID"]), callee.get(r["SpanID"]))
        by_pod[r["PodName"]].append(Span(
            trace_id=bytes.fromhex(r["TraceID"]), span_id=bytes.fromhex(r["SpanID"]),
            parent_span_id=b"" if r["ParentID"] == "root" else bytes.fromhex(r["ParentID"]),
            name=r["OperationName"], kind=kind,  # type: ignore[arg-type]
            start_time_unix_nano=int(r["StartTimeUnixNano"]), end_time_unix_nano=int(r["EndTimeUnixNano"]),
            attributes=[_kv(k, v) for k, v in attrs.items()]))
    for chunk in _batches(by_pod, batch):
        yield ExportTraceServiceRequest(resource_spans=[
            ResourceSpans(resource=resource_for(pod), scope_spans=[ScopeSpans(scope=SCOPE, spans=spans)])
            for pod, spans in chunk])


def parse_log_line(raw: str) -> tuple[str, str]:
    """(body, level) of one log cell: the Docker JSON's ``log`` field without its newline."""
    try:
        body = str(json.loads(raw)["log"]).rstrip("\n")
    except (ValueError, KeyError, TypeError):
        body = raw.rstrip("\n")
    m = _LEVEL.match(body)
    return body, (m.group(1) if m else "")


def log_time_ns(row: dict[str, str]) -> int:
    """A log row's time: ``TimeUnixNano``, or its ISO ``Timestamp`` (UTC) where that column overflowed
    (some 09:20 rows hold -6795364578871345152)."""
    try:
        ns = int(row["TimeUnixNano"])
    except (KeyError, ValueError):
        ns = -1
    if ns > 0:
        return ns
    m = _ISO.match(row.get("Timestamp", ""))
    if not m:
        raise ValueError(f"log row without a usable time: {row.get('Timestamp')!r}")
    base = dt.datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S").replace(tzinfo=dt.timezone.utc)
    return int(base.timestamp()) * NS + int((m.group(2) or "0").ljust(9, "0")[:9])


def log_requests(rows: list[dict[str, str]], batch: int = BATCH) -> Iterator[ExportLogsServiceRequest]:
    by_pod: dict[str, list[LogRecord]] = defaultdict(list)
    nodes: dict[str, str] = {}
    for r in rows:
        body, level = parse_log_line(r["Log"])
        nodes.setdefault(r["PodName"], r.get("Node", ""))
        trace_id, span_id = r.get("TraceID", ""), r.get("SpanID", "")
        ts = log_time_ns(r)
        by_pod[r["PodName"]].append(LogRecord(
            time_unix_nano=ts, observed_time_unix_nano=ts,
            severity_number=_SEVERITY.get(level, 0), severity_text=level,  # type: ignore[arg-type]
            body=AnyValue(string_value=body), attributes=[_kv("k8s.container.name", r.get("Container", ""))],
            trace_id=bytes.fromhex(trace_id) if len(trace_id) == 32 else b"",
            span_id=bytes.fromhex(span_id) if len(span_id) == 16 else b""))
    for chunk in _batches(by_pod, batch):
        yield ExportLogsServiceRequest(resource_logs=[
            ResourceLogs(resource=resource_for(pod, **{"k8s.node.name": nodes[pod]} if nodes[pod] else {}),
                         scope_logs=[ScopeLogs(scope=SCOPE, log_records=recs)])
            for pod, recs in chunk])


def metric_request(metric_dir: Path, start_ns: int, end_ns: int) -> ExportMetricsServiceRequest:
    """Per-pod gauges from the metric CSVs, samples with start_ns <= time < end_ns."""
    out = ExportMetricsServiceRequest()
    for path in sorted(metric_dir.glob("ts-*_metric.csv")):
        with open(path, newline="", encoding="utf-8") as fh:
            rows = [r for r in csv.DictReader(fh) if start_ns <= int(r["TimeStamp"]) * NS < end_ns]
        if not rows:
            continue
        metrics = []
        for col, (name, unit, scale) in METRICS.items():
            points = [NumberDataPoint(time_unix_nano=int(r["TimeStamp"]) * NS, as_double=float(r[col]) * scale)
                      for r in rows if r.get(col) not in (None, "")]
            if points:
                metrics.append(Metric(name=name, unit=unit, gauge=Gauge(data_points=points)))
        out.resource_metrics.append(ResourceMetrics(resource=resource_for(rows[0]["PodName"]),
                                                    scope_metrics=[ScopeMetrics(scope=SCOPE, metrics=metrics)]))
    return out


__all__ = ["METRICS", "log_requests", "log_time_ns", "metric_request", "parse_log_line", "read_rows", "resource_for",
           "span_kind", "trace_requests"]
