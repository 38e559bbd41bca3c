"""ExportTraceServiceRequest -> one Arrow table shaped like ``otel_traces`` (+ rejected count).

Hot path of the collector. The request is parsed with attributes left as encoded bytes
(``_wire.py``: a bounded memo turns each distinct attribute into strings once); the span fields
are read with one ``attrgetter`` call per span (all fields in C, no bytecode per field) and
transposed with ``zip``; per-resource/scope values are broadcast with ``take``; ids are
hex-encoded in one ``hexlify`` per column; validation and durations are Arrow compute.
"""

from __future__ import annotations

import binascii
from collections.abc import Iterator
from itertools import accumulate
from operator import attrgetter
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from ._attrs import ListColumn, ListOfMapColumn, MapColumn
from ._wire import add_maps, to_wire, wire_attrs_dict

SPAN_KINDS = ("Unspecified", "Internal", "Server", "Client", "Producer", "Consumer")
STATUS_CODES = ("Unset", "Ok", "Error")
_MAX_TS = (1 << 63) - 1
_MAX_TS_U = pa.scalar(_MAX_TS, pa.uint64())
_TS = pa.timestamp("ns")
_KIND_ARR = pa.array(SPAN_KINDS, pa.string())
_STATUS_ARR = pa.array(STATUS_CODES, pa.string())
_ZERO16 = b"\0" * 16
_ZERO8 = b"\0" * 8
_TWO = pa.scalar(2, pa.int32())
_SPAN_FIELDS = attrgetter("trace_id", "span_id", "parent_span_id", "trace_state", "name", "kind",
                          "start_time_unix_nano", "end_time_unix_nano", "attributes", "events", "links",
                          "status.code", "status.message")
_EVENT_FIELDS = attrgetter("time_unix_nano", "name", "attributes")
_LINK_FIELDS = attrgetter("trace_id", "span_id", "trace_state", "attributes")


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


def _codes(values: list[int], names: pa.Array) -> pa.Array:
    idx = pa.array(values, pa.int64())
    idx = pc.if_else(pc.and_(pc.greater_equal(idx, 0), pc.less(idx, len(names))), idx, 0)
    return names.take(idx)


CHUNK_SPANS = 8192  # converted per slice: bounds the Python objects alive for a huge request


def _slices(req: Any) -> Iterator[list[tuple[dict[str, str], Any, list[Any]]]]:
    batch: list[tuple[dict[str, str], Any, list[Any]]] = []
    n = 0
    for rs in req.resource_spans:
        rattrs = wire_attrs_dict(rs.resource.attributes)
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
    """Convert a parsed request (a real ExportTraceServiceRequest or a ``_wire.WireTraces``)."""
    out = Converted()
    tables = [t for t in (_convert_slice(b, out) for b in _slices(to_wire(req))) if t is not None]
    if tables:
        out.tables["otel_traces"] = tables[0] if len(tables) == 1 else pa.concat_tables(tables)
    return out


def hex_array(ids: pa.Array, raw: list[bytes]) -> pa.Array:
    """Lower-case hex of a binary column: one ``hexlify`` of all ids, offsets doubled (no str per id)."""
    offsets = pa.Array.from_buffers(pa.int32(), len(ids) + 1, [None, ids.buffers()[1]], offset=ids.offset)
    return pa.StringArray.from_buffers(len(ids), pc.multiply(offsets, _TWO).buffers()[1],
                                       pa.py_buffer(binascii.hexlify(b"".join(raw))))


def _hex_lists(raw: list[bytes]) -> pa.Array:
    return hex_array(pa.array(raw, pa.binary()), raw)


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
    evs: list[Any] = []
    lks: list[Any] = []
    group: list[int] = []             # index into the per-(resource, scope) arrays below
    g_service: list[str] = []
    g_scope: list[str] = []
    g_version: list[str] = []
    g_res = MapColumn()
    attrs = MapColumn()

    for rattrs, scope, spans in batch:
        gi = len(g_service)
        g_service.append(rattrs.get("service.name", ""))
        g_scope.append(scope.name)
        g_version.append(scope.version)
        g_res.add_dict(rattrs)
        group.extend([gi] * len(spans))
        (s_tid, s_sid, s_pid, s_state, s_name, s_kind, s_start, s_end, s_attrs, s_evs, s_lks, s_code,
         s_msg) = zip(*map(_SPAN_FIELDS, spans), strict=True)
        tids.extend(s_tid)
        sids.extend(s_sid)
        pids.extend(s_pid)
        states.extend(s_state)
        names.extend(s_name)
        kinds.extend(s_kind)
        starts.extend(s_start)
        ends.extend(s_end)
        codes.extend(s_code)
        messages.extend(s_msg)
        evs.extend(s_evs)
        lks.extend(s_lks)
        add_maps(attrs, s_attrs)

    n = len(tids)
    if not n:
        return None
    ev_n = list(map(len, evs))
    ln_n = list(map(len, lks))
    ev_off = [0, *accumulate(ev_n)]
    ln_off = [0, *accumulate(ln_n)]
    ev_ts = ListColumn(pa.uint64())
    ev_names = ListColumn(pa.string())
    ev_attrs = ListOfMapColumn()
    ln_trace: list[bytes] = []
    ln_span: list[bytes] = []
    ln_state = ListColumn(pa.string())
    ln_attrs = ListOfMapColumn()
    if ev_off[-1]:
        ev_rows = [_EVENT_FIELDS(x) for e in evs if e for x in e]
        ev_ts.items, ev_names.items, ev_a = (list(c) for c in zip(*ev_rows, strict=True))
        add_maps(ev_attrs.inner, ev_a)
    if ln_off[-1]:
        ln_rows = [_LINK_FIELDS(x) for lk in lks if lk for x in lk]
        ln_trace, ln_span, ln_state.items, ln_a = (list(c) for c in zip(*ln_rows, strict=True))
        add_maps(ln_attrs.inner, ln_a)
    ev_ts.offsets = ev_names.offsets = ev_attrs.offsets = ev_off
    ln_state.offsets = ln_off
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
    ln_off_a = pa.array(ln_off, pa.int32())
    duration = pc.if_else(pc.greater(end_a, start_a), pc.subtract_checked(pc.max_element_wise(end_a, start_a), start_a),
                          pa.scalar(0, pa.uint64()))
    ev_ts_ts = pa.ListArray.from_arrays(pa.array(ev_off, pa.int32()),
                                        pc.cast(pc.min_element_wise(ev_ts_a.flatten(), _MAX_TS_U), pa.int64()).cast(_TS))
    table = pa.table({
        "Timestamp": pc.cast(pc.min_element_wise(start_a, _MAX_TS_U), pa.int64()).cast(_TS),
        "TraceId": hex_array(tid_a, tids),
        "SpanId": hex_array(sid_a, sids),
        "ParentSpanId": hex_array(pid_a, pids),
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
        "Links.TraceId": pa.ListArray.from_arrays(ln_off_a, _hex_lists(ln_trace)),
        "Links.SpanId": pa.ListArray.from_arrays(ln_off_a, _hex_lists(ln_span)),
        "Links.TraceState": ln_state.array(),
        "Links.Attributes": ln_attrs.array(),
    })
    if n_ok < n:
        table = table.filter(ok)
    return table
