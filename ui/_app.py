"""The web UI's routes (Starlette) and pages (Jinja2 templates, server-rendered, no JavaScript).

    /ui                  services and routes: RED over the time range, P99 and rate charts
    /ui/traces           trace search (service, route, kind, status, min duration, attributes),
                         newest or slowest first, 50 a page
    /ui/trace/<id>       waterfall: spans, events (gc.pause, event_loop.blocked), attributes,
                         GPU energy/cost, and other traces' jobs/pauses that overlapped it
    /ui/findings         infersight.analysis.diagnose on the time range (_findings.py)
    /ui/static/<file>    the stylesheet
Every page takes ``from``/``to`` (_time.py). Reads go through the collector's ``Reads`` (a
cursor per read, in a worker thread, at most two at once).
"""

from __future__ import annotations

import asyncio
import re
import time
import urllib.parse
from importlib import resources
from typing import Any

import jinja2
from infersight.collectors import Reads, query
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from . import _data, _svg
from ._findings import Findings
from ._time import RangeError, TimeRange, iso, parse_range
from ._waterfall import PALETTE, layout

PAGE = 50
_HEX = re.compile(r"^[0-9a-fA-F]{1,32}$")
_STATIC = {"ui.css": "text/css; charset=utf-8"}


def _ms(ns: float | int | None) -> str:
    if ns is None:
        return "-"
    ms = float(ns) / 1e6
    if ms >= 10_000:
        return f"{ms / 1000:,.1f} s"
    if ms >= 100:
        return f"{ms:,.0f} ms"
    if ms >= 1 or ms == 0:
        return f"{ms:,.1f} ms"
    return f"{ms * 1000:,.0f} µs"


def _num(v: float | None, digits: int = 1) -> str:
    return "-" if v is None else f"{v:,.{digits}f}"


def _env() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.PackageLoader("infersight.ui", "templates"),
                             autoescape=jinja2.select_autoescape(["html", "j2"]), trim_blocks=True,
                             lstrip_blocks=True, undefined=jinja2.StrictUndefined)
    env.filters.update(ms=_ms, num=_num, iso=iso, pct=lambda v: "-" if v is None else f"{v:.1%}")
    env.globals["preset"] = _preset
    return env


def _preset(request: Request, start: str) -> str:
    """This page with ``from=start`` (and no ``to``), keeping the other filters."""
    keep = {k: v for k, v in request.query_params.items() if k not in ("from", "to", "offset")}
    return _qs(keep, **{"from": start})


class UI:
    """The ASGI app mounted at ``/ui`` (``mount(reads)`` builds it)."""

    def __init__(self, reads: Reads, *, clock: Any = time.time) -> None:
        self.reads = reads
        self.clock = clock
        self.env = _env()
        self.findings = Findings(reads.call, source=f"live data of the collector ({reads.db_path})")
        self.app = Starlette(routes=[
            Route("/ui", self.overview), Route("/ui/", self.overview),
            Route("/ui/traces", self.traces), Route("/ui/trace/{trace_id}", self.trace),
            Route("/ui/findings", self.findings_page), Route("/ui/static/{name}", self.static),
        ])

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)

    # -- helpers ---------------------------------------------------------------------------
    def _page(self, template: str, request: Request, status: int = 200, **ctx: Any) -> HTMLResponse:
        html = self.env.get_template(template).render(request=request, path=request.url.path, **ctx)
        return HTMLResponse(html, status_code=status)

    async def _range(self, request: Request) -> tuple[TimeRange, dict[str, Any]]:
        first, last, spans = await self.reads.run(query.time_range)
        data = {"first_ns": first, "last_ns": last, "spans": spans}
        tr = parse_range(request.query_params.get("from"), request.query_params.get("to"), first_ns=first,
                         last_ns=last, now_ns=int(self.clock() * 1e9))
        return tr, data

    def _error(self, request: Request, message: str, status: int = 400) -> HTMLResponse:
        return self._page("error.html.j2", request, status=status, message=message, tr=None, data=None,
                          links=_links(request, None))

    # -- pages -----------------------------------------------------------------------------
    async def overview(self, request: Request) -> Response:
        try:
            tr, data = await self._range(request)
        except RangeError as exc:
            return self._error(request, str(exc))
        table, series = await asyncio.gather(  # two cursors, two cores
            self.reads.run(lambda con: _data.red_table(con, tr.from_ns, tr.to_ns)),
            self.reads.run(lambda con: _data.red_series(con, tr.from_ns, tr.to_ns)))
        red = _data.red(None, tr.from_ns, tr.to_ns, table=table, series_rows=series)  # type: ignore[arg-type]
        routes = red["routes"]
        step = red["step_ns"]
        labels = [iso(tr.from_ns + i * step, ms=False)[11:16] for i in range(red["buckets"])]
        top = [r for r in routes if r["series"]][:8]
        p99 = [(f"{r['service']} {r['route'] or '(no route)'}", r["series"]["p99_ms"], PALETTE[i % len(PALETTE)])
               for i, r in enumerate(top)]
        rate = [(f"{r['service']} {r['route'] or '(no route)'}", [v / (step / 1e9) for v in r["series"]["requests"]],
                 PALETTE[i % len(PALETTE)]) for i, r in enumerate(top)]
        for i, r in enumerate(routes):
            r["color"] = PALETTE[i % len(PALETTE)] if r in top else "#8c8c8c"
            r["spark"] = _svg.sparkline(r["series"]["p99_ms"] if r["series"] else [], color=r["color"])
        charts = [_svg.line_chart(p99, labels, title="P99 latency per route (ms)", unit=""),
                  _svg.line_chart(rate, labels, title="requests per second per route", unit="")] if top else []
        totals = {"requests": sum(r["requests"] for r in routes), "errors": sum(r["errors"] for r in routes),
                  "routes": len(routes), "services": len({r["service"] for r in routes}),
                  "worst_p99": max((r["p99_ms"] for r in routes if r["p99_ms"] is not None), default=None)}
        return self._page("overview.html.j2", request, tr=tr, data=data, routes=routes, charts=charts,
                          totals=totals, step_s=step / 1e9, links=_links(request, tr))

    async def traces(self, request: Request) -> Response:
        qp = request.query_params
        try:
            tr, data = await self._range(request)
            min_ms = float(qp["min_ms"]) if qp.get("min_ms") else None
            attrs = _attr_filter(qp.get("attr", ""))
            offset = max(0, int(qp.get("offset") or 0))
            search = query.SpanSearch(
                from_ns=tr.from_ns, to_ns=tr.to_ns, service=qp.get("service") or None,
                route=qp.get("route") or None, name=qp.get("name") or None,
                kind=qp.get("kind", "Server") or None, status=qp.get("status") or None,
                min_ns=int(min_ms * 1e6) if min_ms is not None else None, attributes=attrs)
            search.params()  # validates kind and status
        except (RangeError, ValueError) as exc:
            return self._error(request, str(exc))
        slowest = qp.get("order") == "slowest"

        def read(con: Any) -> tuple[list[str], list[dict[str, Any]]]:
            return (query.services(con, from_ns=tr.from_ns, to_ns=tr.to_ns),
                    query.search_spans(con, search, slowest=slowest, limit=PAGE + 1, offset=offset))

        services, hits = await self.reads.run(read)
        more = len(hits) > PAGE
        hits = hits[:PAGE]
        longest = max((h["duration_ns"] for h in hits), default=1) or 1
        for h in hits:
            h["href"] = f"/ui/trace/{h['trace_id']}?" + urllib.parse.urlencode({"t": h["start_ns"]})
            h["bar"] = 100.0 * h["duration_ns"] / longest
            code = h["http_status"] or ""
            h["error"] = h["status"] == "Error" or (code.isdigit() and int(code) >= 500)
        plot = _svg.scatter([(h["start_ns"], h["duration_ns"] / 1e6, h["href"], h["error"]) for h in hits],
                            from_ns=tr.from_ns, to_ns=tr.to_ns,
                            title="duration of the spans on this page against their start time") if hits else None
        base = {k: v for k, v in qp.items() if k != "offset"}
        pages = {"prev": _qs(base, offset=max(0, offset - PAGE)) if offset else None,
                 "next": _qs(base, offset=offset + PAGE) if more else None,
                 "first": offset + 1 if hits else 0, "last": offset + len(hits)}
        return self._page("traces.html.j2", request, tr=tr, data=data, hits=hits, services=services, q=qp,
                          pages=pages, plot=plot, slowest=slowest, kinds=query.KINDS, links=_links(request, tr))

    async def trace(self, request: Request) -> Response:
        tid = request.path_params["trace_id"]
        if not _HEX.match(tid):
            return self._error(request, f"{tid!r} is not a trace id (up to 32 hex digits)")
        tid = tid.lower().rjust(32, "0")
        hint = request.query_params.get("t", "")
        around = int(hint) if hint.isdigit() else None

        def read(con: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
            spans = query.trace(con, tid, around_ns=around)
            if not spans:
                return [], []
            t0 = min(s["start_ns"] for s in spans)
            t1 = max(s["start_ns"] + s["duration_ns"] for s in spans)
            others = _data.concurrent(con, services=sorted({s["service"] for s in spans if s["service"]}),
                                      trace_id=tid, from_ns=t0, to_ns=max(t1, t0 + 1))
            return spans, others

        spans, others = await self.reads.run(read)
        if not spans:
            return self._error(request, f"no spans with trace id {tid} in this collector", status=404)
        wf = layout(spans, others)
        root = wf.rows[0].span
        context = {"from": str((wf.start_ns - 300 * 10**9) // 10**6), "to": str((wf.end_ns + 300 * 10**9) // 10**6)}
        return self._page("trace.html.j2", request, tr=None, data=None, wf=wf, root=root, trace_id=tid,
                          errors=sum(1 for r in wf.rows if r.error), context=urllib.parse.urlencode(context),
                          links=_links(request, None))

    async def findings_page(self, request: Request) -> Response:
        try:
            tr, data = await self._range(request)
        except RangeError as exc:
            return self._error(request, str(exc))
        job = self.findings.get(tr.from_ns, tr.to_ns, latest_ns=data["last_ns"])
        if job.state == "done":
            return HTMLResponse(self._embed_report(request, tr, data, job.html))
        return self._page("findings.html.j2", request, tr=tr, data=data, job=job,
                          elapsed=time.monotonic() - job.started, links=_links(request, tr))

    def _embed_report(self, request: Request, tr: TimeRange, data: dict[str, Any], report: str) -> str:
        """The report as ``infersight diagnose --html`` writes it, with the UI's header on top."""
        header = self.env.get_template("_header.html.j2").render(request=request, path=request.url.path, tr=tr,
                                                                 data=data, links=_links(request, tr))
        css = '<link rel="stylesheet" href="/ui/static/ui.css">'
        out = report.replace("</head>", css + "</head>", 1)
        if "<body>" in out:
            return out.replace("<body>", "<body class='is-report'>" + header, 1)
        return css + header + out

    async def static(self, request: Request) -> Response:
        name = request.path_params["name"]
        if name not in _STATIC:
            return Response("not found\n", status_code=404, media_type="text/plain")
        body = resources.files(__package__).joinpath("static", name).read_bytes()
        return Response(body, media_type=_STATIC[name], headers={"cache-control": "max-age=300"})


def _qs(params: dict[str, Any], **extra: Any) -> str:
    merged = {**params, **extra}
    return "?" + urllib.parse.urlencode({k: v for k, v in merged.items() if v not in (None, "")})


def _attr_filter(text: str) -> dict[str, str]:
    """``key=value, key2=value2`` -> dict (what the attribute filter box takes)."""
    out: dict[str, str] = {}
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"attribute filter {part!r}: write key=value (several separated by commas)")
        out[key.strip()] = value.strip()
    return out


def _links(request: Request, tr: TimeRange | None) -> dict[str, str]:
    """Nav links that keep the current time range."""
    keep = tr.query() if tr is not None else {k: v for k, v in request.query_params.items() if k in ("from", "to")}
    q = _qs(keep) if keep else ""
    return {"overview": "/ui" + q, "traces": "/ui/traces" + q, "slow": "/ui/traces" + _qs(keep, order="slowest"),
            "findings": "/ui/findings" + q}


def mount(reads: Reads) -> UI:
    """The UI as an ASGI app for ``Collector(mounts={"/ui": mount})``."""
    return UI(reads)


__all__ = ["UI", "mount"]
