"""Reference for the trace converter: collectors/_traces.py as it was before the wire decoder.

Kept verbatim (commit 4119d05) apart from the imports, so tests can check that the fast path
(``_wire.py``: attributes as raw bytes + memo, attrgetter rows, hexlify ids) gives exactly the
rows the old one gave, on the full parse of the real OTLP messages.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import accumulate
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from infersight.collectors._attrs import ListColumn, ListOfMapColumn, MapColumn, any_to_str, attrs_dict
from infersight.collectors._traces import Converted

SPAN_KINDS = ("Unspecified", "Internal", "Server", "Client", "Producer", "Consumer")
STATUS_CODES = ("Unset", "Ok", "Error")
_MAX_TS = (1 << 63) - 1
_MAX_TS_U = pa.scalar(_MAX_TS, pa.uint64())
_TS = pa.timestamp("ns")
_KIND_ARR = pa.array(SPAN_KINDS, pa.string())
_STATUS_ARR = pa.array(STATUS_CODES, pa.string())
_ZERO16 = b"\0" * 16
_ZERO8 = b"\0" * 8


def span_attrs(spans: list[Any], col: MapColumn) -> None:
    """Append every span's attributes to ``col`` (inlined any_to_str for the common scalar types)."""
    keys, values, offsets = col.keys, col.values, col.offsets
    for sp in spans:
        attrs = sp.attributes
        if attrs:
            d: dict[str, str] = {}
            for kv in attrs:
                v = kv.value
                sv = v.string_value
                if sv:  # fast path: most attribute values are non-empty strings
                    d[kv.key] = sv
                    continue
                k = v.WhichOneof("value")
                if k == "string_value":
                    d[kv.key] = sv
                elif k == "int_value":
                    d[kv.key] = str(v.int_value)
                elif k == "bool_value":
                    d[kv.key] = "true" if v.bool_value else "false"
                else:
                    d[kv.key] = any_to_str(v)
            keys.extend(d)
            values.extend(d.values())
        offsets.append(len(keys))


def _codes(values: list[int], names: pa.Array) -> pa.Array:
    idx = pa.array(values, pa.int64())
    idx = pc.if_else(pc.and_(pc.greater_equal(idx, 0), pc.less(idx, len(names))), idx, 0)
    return names.take(idx)


CHUNK_SPANS = 8192  # converted per slice: bounds the Python objects alive for a huge request


def _slices(req: Any) -> Iterator[list[tuple[dict[str, str], Any, list[Any]]]]:
    batch: list[tuple[dict[str, str], Any, list[Any]]] = []
    n = 0
    for rs in req.resource_spans:
        rattrs = attrs_dict(rs.resource.attributes)
        for ss in rs.scope_spans:
            spans = ss.spans
            for lo in range(0, len(spans), CHUNK_SPANS):
                part = list(spans[lo:lo + CHUNK_SPANS])
                batch.append((rattrs, ss.scope, part))
                n += len(part)
                if n >= CHUNK_SPANS:
                    yield batch
                    batch, n = [], 0
    if batch:
        yield batch


def convert_traces(req: Any) -> Converted:
    out = Converted()
    tables = [t for t in (_convert_slice(b, out) for b in _slices(req)) if t is not None]
    if tables:
        out.tables["otel_traces"] = tables[0] if len(tables) == 1 else pa.concat_tables(tables)
    return out


def _convert_slice(batch: list[tuple[dict[str, str], Any, list[Any]]], out: Converted) -> pa.Table | None:
    tids: list[bytes] = []
    sids: list[bytes] = []
    pids: list[bytes] = []
    states: list[str] = []
    names: list[str] = []
    kinds: list[int] = []
    starts: list[int] = []
    ends: list[int] = []
    codes: list[int] = []
    messages: list[str] = []
    group: list[int] = []             # index into the per-(resource, scope) arrays below
    g_service: list[str] = []
    g_scope: list[str] = []
    g_version: list[str] = []
    g_res = MapColumn()
    attrs = MapColumn()
    ev_n: list[int] = []
    ln_n: list[int] = []
    ev_ts = ListColumn(pa.uint64())
    ev_names = ListColumn(pa.string())
    ev_attrs = ListOfMapColumn()
    ln_trace = ListColumn(pa.string())
    ln_span = ListColumn(pa.string())
    ln_state = ListColumn(pa.string())
    ln_attrs = ListOfMapColumn()

    for rattrs, scope, spans in batch:
        gi = len(g_service)
        g_service.append(rattrs.get("service.name", ""))
        g_scope.append(scope.name)
        g_version.append(scope.version)
        g_res.add_dict(rattrs)
        group.extend([gi] * len(spans))
        tids.extend([s.trace_id for s in spans])
        sids.extend([s.span_id for s in spans])
        pids.extend([s.parent_span_id for s in spans])
        states.extend([s.trace_state for s in spans])
        names.extend([s.name for s in spans])
        kinds.extend([s.kind for s in spans])
        starts.extend([s.start_time_unix_nano for s in spans])
        ends.extend([s.end_time_unix_nano for s in spans])
        statuses = [s.status for s in spans]
        codes.extend([st.code for st in statuses])
        messages.extend([st.message for st in statuses])
        span_attrs(spans, attrs)
        evs = [s.events for s in spans]
        lks = [s.links for s in spans]
        ev_n.extend([len(e) for e in evs])
        ln_n.extend([len(e) for e in lks])
        for e in evs:
            if e:
                ev_ts.items.extend([x.time_unix_nano for x in e])
                ev_names.items.extend([x.name for x in e])
                for x in e:
                    ev_attrs.inner.add_kvs(x.attributes)
        for lk in lks:
            if lk:
                ln_trace.items.extend([x.trace_id.hex() for x in lk])
                ln_span.items.extend([x.span_id.hex() for x in lk])
                ln_state.items.extend([x.trace_state for x in lk])
                for x in lk:
                    ln_attrs.inner.add_kvs(x.attributes)

    n = len(tids)
    if not n:
        return None
    ev_off = [0, *accumulate(ev_n)]
    ln_off = [0, *accumulate(ln_n)]
    for col in (ev_ts, ev_names):
        col.offsets = ev_off
    ev_attrs.offsets = ev_off
    for col in (ln_trace, ln_span, ln_state):
        col.offsets = ln_off
    ln_attrs.offsets = ln_off

    start_a = pa.array(starts, pa.uint64())
    end_a = pa.array(ends, pa.uint64())
    tid_a = pa.array(tids, pa.binary())
    sid_a = pa.array(sids, pa.binary())
    pid_a = pa.array(pids, pa.binary())
    ev_ts_a = ev_ts.array()
    ids_ok = pc.and_(pc.and_(pc.equal(pc.binary_length(tid_a), 16), pc.equal(pc.binary_length(sid_a), 8)),
                     pc.and_(pc.is_in(pc.binary_length(pid_a), pa.array([0, 8], pa.int32())),
                             pc.and_(pc.not_equal(tid_a, pa.scalar(_ZERO16)), pc.not_equal(sid_a, pa.scalar(_ZERO8)))))
    ts_ok = pc.and_(pc.less_equal(start_a, _MAX_TS_U), pc.less_equal(end_a, _MAX_TS_U))
    if len(ev_ts.items):
        bad_ev = [any(t > _MAX_TS for t in ev_ts.items[ev_off[i]:ev_off[i + 1]]) if ev_n[i] else False
                  for i in range(n)]
        ts_ok = pc.and_(ts_ok, pc.invert(pa.array(bad_ev, pa.bool_())))
    ok = pc.and_(ids_ok, ts_ok)
    n_ok = pc.sum(ok).as_py() or 0
    if n_ok < n:
        n_ids = n - (pc.sum(ids_ok).as_py() or 0)
        if n_ids:
            out.reject(n_ids, "invalid trace_id/span_id/parent_span_id length")
        if n - n_ok - n_ids:
            out.reject(n - n_ok - n_ids, "timestamp out of range")
    out.accepted += n_ok
    if not n_ok:
        return None

    group_a = pa.array(group, pa.int32())
    duration = pc.if_else(pc.greater(end_a, start_a), pc.subtract_checked(pc.max_element_wise(end_a, start_a), start_a),
                          pa.scalar(0, pa.uint64()))
    ev_ts_ts = pa.ListArray.from_arrays(pa.array(ev_off, pa.int32()),
                                        pc.cast(pc.min_element_wise(ev_ts_a.flatten(), _MAX_TS_U), pa.int64()).cast(_TS))
    table = pa.table({
        "Timestamp": pc.cast(pc.min_element_wise(start_a, _MAX_TS_U), pa.int64()).cast(_TS),
        "TraceId": pa.array([t.hex() for t in tids], pa.string()),
        "SpanId": pa.array([s.hex() for s in sids], pa.string()),
        "ParentSpanId": pa.array([p.hex() for p in pids], pa.string()),
        "TraceState": pa.array(states, pa.string()),
        "SpanName": pa.array(names, pa.string()),
        "SpanKind": _codes(kinds, _KIND_ARR),
        "ServiceName": pa.array(g_service, pa.string()).take(group_a),
        "ResourceAttributes": g_res.array().take(group_a),
        "ScopeName": pa.array(g_scope, pa.string()).take(group_a),
        "ScopeVersion": pa.array(g_version, pa.string()).take(group_a),
        "SpanAttributes": attrs.array(),
        "Duration": duration,
        "StatusCode": _codes(codes, _STATUS_ARR),
        "StatusMessage": pa.array(messages, pa.string()),
        "Events.Timestamp": ev_ts_ts,
        "Events.Name": ev_names.array(),
        "Events.Attributes": ev_attrs.array(),
        "Links.TraceId": ln_trace.array(),
        "Links.SpanId": ln_span.array(),
        "Links.TraceState": ln_state.array(),
        "Links.Attributes": ln_attrs.array(),
    })
    if n_ok < n:
        table = table.filter(ok)
    return table
