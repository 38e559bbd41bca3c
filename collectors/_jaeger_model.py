"""Spans as stored (``query.traces`` rows) -> the Jaeger UI JSON model of one trace.

Follows Jaeger's own OTLP translation: ``startTime``/``duration`` in microseconds; the parent
becomes a ``CHILD_OF`` reference and span links ``FOLLOWS_FROM`` ones; the span kind, status
and instrumentation scope become the tags ``span.kind``, ``otel.status_code``,
``otel.status_description``, ``error`` (true on status Error), ``otel.scope.name``/``version``;
span events become logs whose ``event`` field is the event name; each distinct
(service, resource attributes) is one process ``p1``, ``p2``... whose tags are the resource
attributes. Attribute values are stored as strings, so a tag's type is read back from its text:
``true``/``false`` bool, an integer int64, a decimal float64, anything else string.
"""

from __future__ import annotations

import json
import re
from typing import Any

_INT = re.compile(r"-?\d{1,18}")
_FLOAT = re.compile(r"-?(\d+\.\d*|\.\d+|\d+)([eE][-+]?\d+)?")


def tag(key: str, value: Any) -> dict[str, Any]:
    """One Jaeger KeyValue, typed from the stored string."""
    if isinstance(value, bool):
        return {"key": key, "type": "bool", "value": value}
    if isinstance(value, int):
        return {"key": key, "type": "int64", "value": value}
    if isinstance(value, float):
        return {"key": key, "type": "float64", "value": value}
    text = "" if value is None else str(value)
    if text in ("true", "false"):
        return {"key": key, "type": "bool", "value": text == "true"}
    if _INT.fullmatch(text):
        return {"key": key, "type": "int64", "value": int(text)}
    if _FLOAT.fullmatch(text):
        return {"key": key, "type": "float64", "value": float(text)}
    return {"key": key, "type": "string", "value": text}


def _tags(attrs: dict[str, Any]) -> list[dict[str, Any]]:
    return [tag(k, v) for k, v in sorted(attrs.items())]


def to_jaeger(trace_id: str, spans: list[dict[str, Any]]) -> dict[str, Any]:
    """One trace in the Jaeger model: ``{"traceID", "spans", "processes", "warnings"}``."""
    processes: dict[str, dict[str, Any]] = {}
    pid_of: dict[str, str] = {}
    out: list[dict[str, Any]] = []
    for sp in spans:
        resource = dict(sp.get("resource") or {})
        service = sp.get("service") or resource.get("service.name") or "unknown"
        key = json.dumps([service, sorted(resource.items())])
        pid = pid_of.get(key)
        if pid is None:
            pid = pid_of[key] = f"p{len(pid_of) + 1}"
            processes[pid] = {"serviceName": service,
                              "tags": _tags({k: v for k, v in resource.items() if k != "service.name"})}
        refs = []
        if sp.get("parent_span_id"):
            refs.append({"refType": "CHILD_OF", "traceID": trace_id, "spanID": sp["parent_span_id"]})
        refs += [{"refType": "FOLLOWS_FROM", "traceID": ln["trace_id"], "spanID": ln["span_id"]}
                 for ln in sp.get("links") or []]
        tags = _tags(sp.get("attributes") or {})
        kind = (sp.get("kind") or "").lower()
        if kind and kind != "unspecified":
            tags.append({"key": "span.kind", "type": "string", "value": kind})
        status = sp.get("status") or "Unset"
        if status != "Unset":
            tags.append({"key": "otel.status_code", "type": "string", "value": status.upper()})
        if status == "Error":
            tags.append({"key": "error", "type": "bool", "value": True})
        if sp.get("status_message"):
            tags.append({"key": "otel.status_description", "type": "string", "value": sp["status_message"]})
        if sp.get("scope"):
            tags.append({"key": "otel.scope.name", "type": "string", "value": sp["scope"]})
        if sp.get("scope_version"):
            tags.append({"key": "otel.scope.version", "type": "string", "value": sp["scope_version"]})
        if sp.get("trace_state"):
            tags.append({"key": "w3c.tracestate", "type": "string", "value": sp["trace_state"]})
        logs = [{"timestamp": int(ev["time_ns"]) // 1000,
                 "fields": [{"key": "event", "type": "string", "value": ev["name"]},
                            *_tags(ev.get("attributes") or {})]}
                for ev in sp.get("events") or []]
        out.append({
            "traceID": trace_id, "spanID": sp["span_id"], "flags": 1, "operationName": sp.get("name") or "",
            "references": refs, "startTime": int(sp["start_ns"]) // 1000,
            "duration": int(sp["duration_ns"]) // 1000, "tags": tags, "logs": logs, "processID": pid,
            "warnings": None,
        })
    return {"traceID": trace_id, "spans": out, "processes": processes, "warnings": None}


__all__ = ["tag", "to_jaeger"]
