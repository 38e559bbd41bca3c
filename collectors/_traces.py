"""ExportTraceServiceRequest -> one Arrow table shaped like ``otel_traces`` (+ rejected count)."""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from ._attrs import ListColumn, ListOfMapColumn, MapColumn, attrs_dict

SPAN_KINDS = ("Unspecified", "Internal", "Server", "Client", "Producer", "Consumer")
STATUS_CODES = ("Unset", "Ok", "Error")
_MAX_TS = (1 << 63) - 1
_TS = pa.timestamp("ns")


class Converted:
    """The result of converting one request: Arrow tables by target table, items accepted/rejected."""

    __slots__ = ("tables", "accepted", "rejected", "reason")

    def __init__(self) -> None:
        self.tables: dict[str, pa.Table] = {}
        self.accepted = 0
        self.rejected = 0
        self.reason = ""

    def reject(self, n: int, reason: str) -> None:
        self.rejected += n
        if not self.reason:
            self.reason = reason


def _kind(k: int) -> str:
    return SPAN_KINDS[k] if 0 <= k < len(SPAN_KINDS) else "Unspecified"


def _status(c: int) -> str:
    return STATUS_CODES[c] if 0 <= c < len(STATUS_CODES) else "Unset"


def convert_traces(req: Any) -> Converted:
    out = Converted()
    ts: list[int] = []
    trace_ids: list[str] = []
    span_ids: list[str] = []
    parents: list[str] = []
    states: list[str] = []
    names: list[str] = []
    kinds: list[str] = []
    services: list[str] = []
    res_attrs = MapColumn()
    scope_names: list[str] = []
    scope_versions: list[str] = []
    span_attrs = MapColumn()
    durations: list[int] = []
    codes: list[str] = []
    messages: list[str] = []
    ev_ts = ListColumn(_TS)
    ev_names = ListColumn(pa.string())
    ev_attrs = ListOfMapColumn()
    ln_trace = ListColumn(pa.string())
    ln_span = ListColumn(pa.string())
    ln_state = ListColumn(pa.string())
    ln_attrs = ListOfMapColumn()

    for rs in req.resource_spans:
        rattrs = attrs_dict(rs.resource.attributes)
        service = rattrs.get("service.name", "")
        for ss in rs.scope_spans:
            sname = ss.scope.name
            sversion = ss.scope.version
            for sp in ss.spans:
                tid = sp.trace_id
                sid = sp.span_id
                pid = sp.parent_span_id
                if (len(tid) != 16 or len(sid) != 8 or len(pid) not in (0, 8)
                        or tid == b"\0" * 16 or sid == b"\0" * 8):
                    out.reject(1, "invalid trace_id/span_id/parent_span_id length")
                    continue
                start = sp.start_time_unix_nano
                end = sp.end_time_unix_nano
                if start > _MAX_TS or end > _MAX_TS:
                    out.reject(1, "timestamp out of range")
                    continue
                if sp.events and any(e.time_unix_nano > _MAX_TS for e in sp.events):
                    out.reject(1, "event timestamp out of range")
                    continue
                ts.append(start)
                trace_ids.append(tid.hex())
                span_ids.append(sid.hex())
                parents.append(pid.hex())
                states.append(sp.trace_state)
                names.append(sp.name)
                kinds.append(_kind(sp.kind))
                services.append(service)
                res_attrs.add_dict(rattrs)
                scope_names.append(sname)
                scope_versions.append(sversion)
                span_attrs.add_kvs(sp.attributes)
                durations.append(end - start if end > start else 0)
                st = sp.status
                codes.append(_status(st.code))
                messages.append(st.message)
                evs = sp.events
                ev_ts.add(e.time_unix_nano for e in evs)
                ev_names.add(e.name for e in evs)
                ev_attrs.add(e.attributes for e in evs)
                lks = sp.links
                ln_trace.add(lk.trace_id.hex() for lk in lks)
                ln_span.add(lk.span_id.hex() for lk in lks)
                ln_state.add(lk.trace_state for lk in lks)
                ln_attrs.add(lk.attributes for lk in lks)

    out.accepted = len(ts)
    if ts:
        out.tables["otel_traces"] = pa.table({
            "Timestamp": pa.array(ts, _TS),
            "TraceId": pa.array(trace_ids, pa.string()),
            "SpanId": pa.array(span_ids, pa.string()),
            "ParentSpanId": pa.array(parents, pa.string()),
            "TraceState": pa.array(states, pa.string()),
            "SpanName": pa.array(names, pa.string()),
            "SpanKind": pa.array(kinds, pa.string()),
            "ServiceName": pa.array(services, pa.string()),
            "ResourceAttributes": res_attrs.array(),
            "ScopeName": pa.array(scope_names, pa.string()),
            "ScopeVersion": pa.array(scope_versions, pa.string()),
            "SpanAttributes": span_attrs.array(),
            "Duration": pa.array(durations, pa.uint64()),
            "StatusCode": pa.array(codes, pa.string()),
            "StatusMessage": pa.array(messages, pa.string()),
            "Events.Timestamp": ev_ts.array(),
            "Events.Name": ev_names.array(),
            "Events.Attributes": ev_attrs.array(),
            "Links.TraceId": ln_trace.array(),
            "Links.SpanId": ln_span.array(),
            "Links.TraceState": ln_state.array(),
            "Links.Attributes": ln_attrs.array(),
        })
    return out
