"""The Jaeger query service's HTTP JSON API over ``otel_traces`` (for Grafana's Jaeger data source).

    GET /api/services                                  {"data": ["svc", ...]}
    GET /api/services/{service}/operations             {"data": ["span name", ...]}
    GET /api/operations?service=&spanKind=             {"data": [{"name", "spanKind"}, ...]}
    GET /api/traces?service=&operation=&tags=&tag=&minDuration=&maxDuration=&start=&end=&limit=
    GET /api/traces/{traceID}                          {"data": [trace]}
    GET /api/dependencies?endTs=&lookback=             {"data": []} (no service graph yet)

Every answer is Jaeger's ``structuredResponse`` (``data``, ``total``, ``limit``, ``offset``,
``errors``); traces use its UI model (``_jaeger_model.py``). ``start``/``end`` are unix
microseconds, durations Go strings (``1.2s``, ``300ms``), ``tags`` a JSON map and ``tag``
``key:value`` (``error=true`` and ``span.kind`` map to the status and kind columns).
Bad parameters: 400 with the reason in ``errors``; an unknown trace: 404.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from typing import Any

from . import query
from ._errors import CollectorConfigError
from ._http import Receive, Scope, Send, _respond
from ._jaeger_model import to_jaeger
from ._reads import Reads

_UNITS = {"ns": 1, "us": 1_000, "µs": 1_000, "μs": 1_000, "ms": 1_000_000, "s": 10**9, "m": 60 * 10**9,
          "h": 3600 * 10**9}
_DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_KINDS = {k.lower(): k for k in query.KINDS}
MAX_LIMIT = 1500


class BadRequest(CollectorConfigError):
    """A query parameter the Jaeger API cannot use (HTTP 400)."""


def parse_go_duration(text: str) -> int:
    """A Go ``time.ParseDuration`` string (``1h2m``, ``1.5s``, ``300ms``) in nanoseconds."""
    s = text.strip()
    if s in ("0", ""):
        return 0
    pos, total = 0, 0.0
    for m in _DURATION.finditer(s):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    if pos != len(s) or pos == 0:
        raise BadRequest(f"invalid duration {text!r} (use e.g. 300ms, 1.5s, 2m)")
    return int(total)


def _int(params: dict[str, list[str]], name: str) -> int | None:
    value = params.get(name, [""])[0].strip()
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        raise BadRequest(f"unable to parse param {name!r}: {value!r} is not an integer") from None


def parse_search(params: dict[str, list[str]]) -> tuple[query.SpanSearch, int]:
    """The ``/api/traces`` query string as a SpanSearch and the trace limit."""
    tags: dict[str, str] = {}
    for raw in params.get("tag", []):
        key, sep, value = raw.partition(":")
        if not sep:
            raise BadRequest(f"malformed 'tag' parameter, expecting key:value, received: {raw}")
        tags[key] = value
    for raw in params.get("tags", []):
        try:
            doc = json.loads(raw)
        except ValueError:
            raise BadRequest("malformed 'tags' parameter, cannot unmarshal JSON") from None
        if not isinstance(doc, dict):
            raise BadRequest("malformed 'tags' parameter, expecting a JSON object")
        tags.update({str(k): str(v) for k, v in doc.items()})
    status = kind = None
    if "error" in tags:
        status = "error" if tags.pop("error").lower() == "true" else "ok"
    if "otel.status_code" in tags:
        status = "error" if tags.pop("otel.status_code").upper() == "ERROR" else "ok"
    if "span.kind" in tags:
        raw_kind = tags.pop("span.kind").lower()
        if raw_kind not in _KINDS:
            raise BadRequest(f"unknown span.kind {raw_kind!r}")
        kind = _KINDS[raw_kind]
    start, end = _int(params, "start"), _int(params, "end")
    min_d = params.get("minDuration", [""])[0]
    max_d = params.get("maxDuration", [""])[0]
    min_ns = parse_go_duration(min_d) if min_d else None
    max_ns = parse_go_duration(max_d) if max_d else None
    if min_ns and max_ns and max_ns < min_ns:
        raise BadRequest("'maxDuration' should be greater than 'minDuration'")
    limit = _int(params, "limit") or 20
    service = params.get("service", [""])[0] or None
    operation = params.get("operation", [""])[0] or None
    search = query.SpanSearch(
        from_ns=start * 1000 if start is not None else None, to_ns=end * 1000 + 1000 if end is not None else None,
        service=service, name=operation, kind=kind, status=status, min_ns=min_ns or None, max_ns=max_ns or None,
        attributes=tags)
    return search, max(1, min(limit, MAX_LIMIT))


def _normalise_id(text: str) -> str:
    tid = text.strip().lower()
    if not tid or len(tid) > 32 or any(c not in "0123456789abcdef" for c in tid):
        raise BadRequest(f"cannot parse traceID {text!r}: expected up to 32 hex digits")
    return tid.rjust(32, "0")


class JaegerAPI:
    """The ASGI app mounted at ``/api``."""

    def __init__(self, reads: Reads) -> None:
        self.reads = reads

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        if scope["method"] not in ("GET", "HEAD"):
            await _json(send, 405, _error(405, "use GET"), [(b"allow", b"GET")])
            return
        parts = [urllib.parse.unquote(p) for p in scope.get("raw_path", scope["path"].encode()).decode(
            "latin-1").split("?")[0].split("/")[2:]]
        params = urllib.parse.parse_qs(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        try:
            status, body = await self._route(parts, params)
        except BadRequest as exc:
            status, body = 400, _error(400, str(exc))
        except ValueError as exc:  # SpanSearch's own checks
            status, body = 400, _error(400, str(exc))
        await _json(send, status, body)

    async def _route(self, parts: list[str], params: dict[str, list[str]]) -> tuple[int, dict[str, Any]]:
        if parts == ["services"]:
            names = await self.reads.run(query.services)
            return 200, _ok(names)
        if len(parts) == 3 and parts[0] == "services" and parts[2] == "operations":
            ops = await self.reads.run(lambda con: query.operations(con, parts[1]))
            names = sorted({name for name, _ in ops})
            return 200, _ok(names)
        if parts == ["operations"]:
            service = params.get("service", [""])[0]
            if not service:
                raise BadRequest("parameter 'service' is required")
            kind_raw = params.get("spanKind", [""])[0].lower()
            kind = _KINDS.get(kind_raw) if kind_raw else None
            if kind_raw and kind is None:
                raise BadRequest(f"unknown spanKind {kind_raw!r}")
            ops = await self.reads.run(lambda con: query.operations(con, service, kind=kind))
            return 200, _ok([{"name": n, "spanKind": k.lower()} for n, k in ops])
        if parts == ["traces"]:
            ids = [_normalise_id(t) for t in params.get("traceID", []) if t]
            if ids:
                return 200, _ok(await self._traces(ids, None))
            search, limit = parse_search(params)
            if search.service is None:
                raise BadRequest("parameter 'service' is required")
            found = await self.reads.run(lambda con: query.find_traces(con, search, limit=limit))
            return 200, _ok(await self._traces(list(found), found))
        if len(parts) == 2 and parts[0] == "traces":
            tid = _normalise_id(parts[1])
            data = await self._traces([tid], None)
            if not data:
                return 404, _error(404, "trace not found", trace_id=tid)
            return 200, _ok(data)
        if parts == ["dependencies"]:
            return 200, _ok([])
        return 404, _error(404, f"no such endpoint: /api/{'/'.join(parts)}")

    async def _traces(self, ids: list[str], starts: dict[str, int] | None) -> list[dict[str, Any]]:
        """The traces in the Jaeger model; ``starts`` (trace id -> a span start) lets one scan of
        the row groups around them find every trace; the rare incomplete one is looked up alone."""
        if not ids:
            return []

        def read(con: Any) -> dict[str, list[dict[str, Any]]]:
            if not starts:
                return query.traces(con, ids)
            found = query.traces(con, ids, from_ns=min(starts.values()) - query.TRACE_WINDOW_NS,
                                 to_ns=max(starts.values()) + query.TRACE_WINDOW_NS)
            for tid in ids:
                spans = found.get(tid, [])
                known = {s["span_id"] for s in spans}
                if not spans or any(s["parent_span_id"] and s["parent_span_id"] not in known for s in spans):
                    found[tid] = query.trace(con, tid)
            return found

        found = await self.reads.run(read)
        return [to_jaeger(tid, found[tid]) for tid in ids if found.get(tid)]


def _ok(data: Any) -> dict[str, Any]:
    return {"data": data, "total": len(data) if isinstance(data, list) else 0, "limit": 0, "offset": 0,
            "errors": None}


def _error(code: int, msg: str, *, trace_id: str | None = None) -> dict[str, Any]:
    err: dict[str, Any] = {"code": code, "msg": msg}
    if trace_id:
        err["traceID"] = trace_id
    return {"data": None, "total": 0, "limit": 0, "offset": 0, "errors": [err]}


async def _json(send: Send, status: int, doc: dict[str, Any], extra: list[tuple[bytes, bytes]] | None = None) -> None:
    await _respond(send, status, json.dumps(doc, separators=(",", ":")).encode(), "application/json", extra)


__all__ = ["JaegerAPI", "parse_go_duration", "parse_search"]
