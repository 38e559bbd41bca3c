"""ExportLogsServiceRequest -> one Arrow table shaped like ``otel_logs``."""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from ._attrs import MapColumn, any_to_str, attrs_dict
from ._traces import Converted

_TS = pa.timestamp("ns")
_MAX_TS = (1 << 63) - 1


def convert_logs(req: Any) -> Converted:
    out = Converted()
    cols: dict[str, list[Any]] = {k: [] for k in (
        "Timestamp", "TimestampTime", "TraceId", "SpanId", "TraceFlags", "SeverityText", "SeverityNumber",
        "ServiceName", "Body", "ResourceSchemaUrl", "ScopeSchemaUrl", "ScopeName", "ScopeVersion", "EventName")}
    res, scope, attrs = MapColumn(), MapColumn(), MapColumn()
    for rl in req.resource_logs:
        rattrs = attrs_dict(rl.resource.attributes)
        service = rattrs.get("service.name", "")
        for sl in rl.scope_logs:
            sattrs = attrs_dict(sl.scope.attributes)
            for lr in sl.log_records:
                tid, sid = lr.trace_id, lr.span_id
                if len(tid) not in (0, 16) or len(sid) not in (0, 8):
                    out.reject(1, "invalid trace_id/span_id length")
                    continue
                # The exporter stores the observed time when the event time is unset.
                t = lr.time_unix_nano or lr.observed_time_unix_nano
                if t > _MAX_TS:
                    out.reject(1, "timestamp out of range")
                    continue
                cols["Timestamp"].append(t)
                cols["TimestampTime"].append(t // 10**9 * 10**6)  # DateTime: whole seconds
                cols["TraceId"].append(tid.hex())
                cols["SpanId"].append(sid.hex())
                cols["TraceFlags"].append(lr.flags & 0xFF)
                cols["SeverityText"].append(lr.severity_text)
                cols["SeverityNumber"].append(max(0, min(255, lr.severity_number)))
                cols["ServiceName"].append(service)
                cols["Body"].append(any_to_str(lr.body))
                cols["ResourceSchemaUrl"].append(rl.schema_url)
                cols["ScopeSchemaUrl"].append(sl.schema_url)
                cols["ScopeName"].append(sl.scope.name)
                cols["ScopeVersion"].append(sl.scope.version)
                cols["EventName"].append(getattr(lr, "event_name", ""))
                res.add_dict(rattrs)
                scope.add_dict(sattrs)
                attrs.add_kvs(lr.attributes)
    n = len(cols["Timestamp"])
    out.accepted = n
    if n:
        types = {"Timestamp": _TS, "TimestampTime": pa.timestamp("us"), "TraceFlags": pa.uint8(),
                 "SeverityNumber": pa.uint8()}
        data = {k: pa.array(v, types.get(k, pa.string())) for k, v in cols.items()}
        data["ResourceAttributes"] = res.array()
        data["ScopeAttributes"] = scope.array()
        data["LogAttributes"] = attrs.array()
        out.tables["otel_logs"] = pa.table(data)
    return out
