"""Jaeger JSON (UI download / query API ``{"data": [trace, ...]}``) -> ExportTraceServiceRequest."""

from __future__ import annotations

from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from ._errors import ImportFormatError

_KINDS = {"server": Span.SPAN_KIND_SERVER, "client": Span.SPAN_KIND_CLIENT, "producer": Span.SPAN_KIND_PRODUCER,
          "consumer": Span.SPAN_KIND_CONSUMER, "internal": Span.SPAN_KIND_INTERNAL}


def _id(text: Any, size: int) -> bytes:
    if not isinstance(text, str):
        return b""
    try:
        return bytes.fromhex(text.rjust(size * 2, "0"))[-size:]
    except ValueError:
        return b""


def _kv(tag: dict[str, Any]) -> KeyValue:
    kv = KeyValue(key=str(tag.get("key", "")))
    typ = str(tag.get("type", "string")).lower()
    val = tag.get("value")
    if typ == "bool":
        kv.value.bool_value = val in (True, "true", "True")
    elif typ == "int64" and isinstance(val, (int, str)) and str(val).lstrip("-").isdigit():
        kv.value.int_value = int(val)
    elif typ == "float64" and isinstance(val, (int, float)):
        kv.value.double_value = float(val)
    else:
        kv.value.string_value = "" if val is None else str(val)
    return kv


def is_jaeger(doc: Any) -> bool:
    return isinstance(doc, dict) and isinstance(doc.get("data"), list) and all(
        isinstance(t, dict) and "spans" in t for t in doc["data"])


def jaeger_to_otlp(doc: Any) -> ExportTraceServiceRequest:
    if not is_jaeger(doc):
        raise ImportFormatError('not Jaeger JSON (expected {"data": [{"traceID", "spans", "processes"}]})')
    req = ExportTraceServiceRequest()
    for trace in doc["data"]:
        processes = trace.get("processes") or {}
        by_process: dict[str, Any] = {}
        for js in trace.get("spans") or []:
            pid = js.get("processID", "")
            ss = by_process.get(pid)
            if ss is None:
                rs = req.resource_spans.add()
                proc = processes.get(pid) or js.get("process") or {}
                rs.resource.attributes.append(_kv({"key": "service.name", "value": proc.get("serviceName", "")}))
                rs.resource.attributes.extend(_kv(t) for t in proc.get("tags") or [])
                ss = by_process[pid] = rs.scope_spans.add()
                ss.scope.name = "jaeger-import"
            try:
                _span(ss.spans.add(), js)
            except (TypeError, ValueError, AttributeError, OverflowError) as exc:
                sid = js.get("spanID") if isinstance(js, dict) else None
                raise ImportFormatError(f"Jaeger span {str(sid)[:40]!r}: {exc}") from None
    return req


def _int(js: dict[str, Any], key: str, unit: str = "microseconds") -> int:
    """An integer field (Jaeger writes numbers; a string of digits is accepted too)."""
    value = js.get(key, 0) or 0
    if isinstance(value, bool) or not isinstance(value, (int, str)) or not str(value).strip().lstrip("-").isdigit():
        raise ValueError(f"{key} must be an integer ({unit}), got {str(value)[:40]!r}")
    n = int(value)
    if not -(1 << 62) < n < (1 << 62):
        raise ValueError(f"{key} is out of range: {n}")
    return n


def _span(sp: Span, js: dict[str, Any]) -> None:
    sp.trace_id = _id(js.get("traceID"), 16)
    sp.span_id = _id(js.get("spanID"), 8)
    sp.name = str(js.get("operationName", ""))
    start_us = _int(js, "startTime")
    sp.start_time_unix_nano = max(0, start_us) * 1000
    sp.end_time_unix_nano = sp.start_time_unix_nano + max(0, _int(js, "duration")) * 1000
    for ref in js.get("references") or []:
        if ref.get("refType") == "CHILD_OF" and not sp.parent_span_id:
            sp.parent_span_id = _id(ref.get("spanID"), 8)
        else:
            sp.links.add(trace_id=_id(ref.get("traceID"), 16), span_id=_id(ref.get("spanID"), 8))
    error = False
    for tag in js.get("tags") or []:
        key = tag.get("key")
        if key == "span.kind":
            sp.kind = _KINDS.get(str(tag.get("value")).lower(), Span.SPAN_KIND_UNSPECIFIED)
        elif key == "error" and tag.get("value") in (True, "true"):
            error = True
        elif key == "otel.status_code":
            error = error or str(tag.get("value")).upper() == "ERROR"
        elif key == "otel.status_description":
            sp.status.message = str(tag.get("value", ""))
        else:
            sp.attributes.append(_kv(tag))
    if error:
        sp.status.code = Status.STATUS_CODE_ERROR
    for log in js.get("logs") or []:
        fields = log.get("fields") or []
        name = next((str(f.get("value")) for f in fields if f.get("key") in ("event", "message")), "log")
        ev = sp.events.add(time_unix_nano=max(0, _int(log, "timestamp")) * 1000, name=name)
        ev.attributes.extend(_kv(f) for f in fields if f.get("key") != "event")
