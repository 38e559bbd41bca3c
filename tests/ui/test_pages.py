"""The UI's pages over real HTTP: overview, trace search, waterfall, login; what they show is read back."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
from infersight.collectors import Collector
from infersight.ui import mount

from tests._runs import run_db

HREF = re.compile(r'href="(/ui/trace/[0-9a-f]{32}\?t=\d+)"')


def page(col: Collector, path: str, expect: int = 200, **params: str) -> str:
    r = httpx.get(col.url + path, params=params or None, timeout=60)  # {} would drop path's query
    assert r.status_code == expect, r.text[-2000:]
    assert r.headers["content-type"].startswith("text/html")
    return r.text


def durations_ms(html: str) -> list[float]:
    out = []
    for cell in re.findall(r'<div class="is-dur">.*?<span>([^<]+)</span>', html, re.S):
        num, unit = cell.replace(",", "").split()
        out.append(float(num) * {"s": 1000, "ms": 1, "µs": 0.001}[unit])
    return out


def test_overview_lists_routes_with_red(ui_collector: Collector) -> None:
    html = page(ui_collector, "/ui", **{"from": "all"})
    for route in ("POST /v1/chat/completions", "POST /v1/embeddings", "POST /score"):
        assert f"<code>{route}</code>" in html
    assert "demo-model-server" in html and "risk-service" in html
    assert html.count('<svg class="spark"') >= 3 and html.count('<svg class="chart"') == 2
    assert "P99 latency per route" in html
    # server-rendered, self-contained: nothing loaded from anywhere else, no script
    assert not re.search(r"(src|href)=[\"']https?:", html) and "<script" not in html


def test_default_range_is_the_last_hour_of_data(ui_collector: Collector) -> None:
    # the run was recorded long before this test: the default window still shows it
    assert "<code>POST /v1/chat/completions</code>" in page(ui_collector, "/ui")


def test_search_slowest_first_then_open_the_slowest_trace(ui_collector: Collector) -> None:
    html = page(ui_collector, "/ui/traces", order="slowest", service="demo-model-server", **{"from": "all"})
    ms = durations_ms(html)
    assert len(ms) == 50 and ms == sorted(ms, reverse=True)
    assert ms[0] > 1000  # the incident's slow requests
    links = HREF.findall(html)
    trace = page(ui_collector, links[0].replace("&amp;", "&"))
    assert "POST /v1/chat/completions" in trace and "risk-service" in trace
    assert "is-mark ev-loop" in trace or "is-mark ev-gc" in trace  # the pause / block the request sat through
    # the payments job that ran meanwhile (another trace) is drawn on the same axis
    assert "payments_full_sync" in trace.split("Also running")[1]


def test_search_filters_and_pages(ui_collector: Collector) -> None:
    page1 = page(ui_collector, "/ui/traces", **{"from": "all", "min_ms": "100", "route": "/v1/chat/completions"})
    assert min(durations_ms(page1)) >= 100
    nxt = re.search(r'href="(\?[^"]*offset=50[^"]*)"', page1)
    assert nxt is not None
    q = parse_qs(urlparse(nxt.group(1).replace("&amp;", "&")).query)
    assert q["min_ms"] == ["100"] and q["route"] == ["/v1/chat/completions"]  # filters kept across pages
    page2 = page(ui_collector, "/ui/traces", **{k: v[0] for k, v in q.items()})
    assert set(HREF.findall(page1)).isdisjoint(HREF.findall(page2))
    embed = page(ui_collector, "/ui/traces", attr="http.route=/v1/embeddings", **{"from": "all"})
    assert "/v1/embeddings" in embed and "/v1/chat/completions" not in embed.split("<tbody>")[1]
    downstream = page(ui_collector, "/ui/traces", attr="resource.infersight.process.role=downstream",
                      **{"from": "all"})
    body = downstream.split("<tbody>")[1]
    assert "risk-service" in body and "demo-model-server" not in body
    assert "Nothing matches" in page(ui_collector, "/ui/traces", status="error", **{"from": "all"})
    internal = page(ui_collector, "/ui/traces", kind="Internal", name="payments_full_sync", **{"from": "all"})
    assert internal.count("payments_full_sync</a>") >= 3


def test_bad_input_is_a_clear_400_or_404(ui_collector: Collector) -> None:
    assert "cannot read time" in page(ui_collector, "/ui/traces", 400, **{"from": "yesterday-ish"})
    assert "write key=value" in page(ui_collector, "/ui/traces", 400, attr="novalue")
    assert "unknown span kind" in page(ui_collector, "/ui/traces", 400, kind="Weird")
    assert "not a trace id" in page(ui_collector, "/ui/trace/xyz", 400)
    assert "no spans with trace id" in page(ui_collector, "/ui/trace/" + "ab" * 16, 404)
    assert "&#39;to&#39; must be after" in page(ui_collector, "/ui", 400, **{"from": "1000", "to": "10"})


def test_static_and_unknown(ui_collector: Collector) -> None:
    r = httpx.get(ui_collector.url + "/ui/static/ui.css")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/css") and ".is-wf" in r.text
    assert httpx.get(ui_collector.url + "/ui/static/../../etc/passwd").status_code == 404
    assert httpx.get(ui_collector.url + "/ui/nope").status_code == 404


def test_token_login_flow(tmp_path: Path) -> None:
    db = run_db("clean", tmp_path / "t.duckdb")
    with Collector(db, http_port=0, grpc_port=None, token="s3cret", mounts={"/ui": mount}) as col, \
            httpx.Client(base_url=col.url) as client:
        r = client.get("/ui", headers={"accept": "text/html"})
        assert r.status_code == 303 and r.headers["location"] == "/ui/login"
        assert client.get("/ui").status_code == 401  # not a browser: plain 401
        assert 'name="token"' in client.get("/ui/login").text
        bad = client.post("/ui/login", data={"token": "wrong"})
        assert bad.status_code == 401 and "Wrong token" in bad.text
        ok = client.post("/ui/login", data={"token": "s3cret"})
        assert ok.status_code == 303 and "HttpOnly" in ok.headers["set-cookie"]
        assert "SameSite=Strict" in ok.headers["set-cookie"]
        assert client.get("/ui").status_code == 200  # the cookie now rides along
        assert httpx.get(col.url + "/ui", headers={"authorization": "Bearer s3cret"}).status_code == 200


@pytest.mark.parametrize("prefix", ["/ui", "/api"])
def test_mounts_are_read_only_under_post(ui_collector: Collector, prefix: str) -> None:
    r = httpx.post(ui_collector.url + prefix + ("/services" if prefix == "/api" else ""), content=b"x")
    assert r.status_code == 405


def test_overview_link_opens_that_routes_slowest_requests(ui_collector: Collector) -> None:
    html = page(ui_collector, "/ui", **{"from": "all"})
    link = re.search(r'href="(/ui/traces\?[^"]*name=POST\+%2Fv1%2Fembeddings[^"]*)"', html)
    assert link is not None
    hits = page(ui_collector, link.group(1).replace("&amp;", "&"))
    body = hits.split("<tbody>")[1]
    assert "POST /v1/embeddings" in body and "/v1/chat/completions" not in body
    ms = durations_ms(hits)
    assert ms == sorted(ms, reverse=True)
