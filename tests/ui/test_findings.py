"""/ui/findings runs the real diagnose on the live data of a time range: same findings as the CLI's report."""

from __future__ import annotations

import re
import time

import httpx
from infersight.analysis import connect, diagnose
from infersight.collectors import Collector, query
from infersight.ui._time import iso

from tests._runs import RUNS


def findings_page(col: Collector, timeout_s: float = 240.0, **params: str) -> str:
    deadline = time.monotonic() + timeout_s
    while True:
        r = httpx.get(col.url + "/ui/findings", params=params, timeout=60)
        assert r.status_code == 200
        if "This page refreshes itself" not in r.text:
            return r.text
        assert '<meta http-equiv="refresh"' in r.text
        assert time.monotonic() < deadline, "diagnosis did not finish"
        time.sleep(0.5)


def test_findings_match_diagnose_and_link_to_traces(ui_collector: Collector) -> None:
    assert ui_collector.reads is not None
    first, last, _ = ui_collector.reads.call(query.time_range)
    assert first is not None and last is not None
    lo, hi = first, last + 10**9
    html = findings_page(ui_collector, **{"from": str(lo // 10**6), "to": str(-(-hi // 10**6))})
    # the same diagnosis, straight from the committed run through the public API
    with connect(str(RUNS / "full_sync"), since=iso((lo // 10**6) * 10**6, ms=False),
                 until=iso(-(-hi // 10**6) * 10**6, ms=False)) as tel:
        expected = diagnose(tel)
    assert expected.findings, "the full_sync run must have findings"
    titles = re.findall(r"<h2>\d+\. (.*?)</h2>", html)
    assert len(titles) == len(expected.findings)
    assert titles[0].replace("&#x27;", "'").replace("&gt;", ">") == expected.findings[0].title
    assert expected.findings[0].category in html
    assert "class='is-report'" in html and 'href="/ui/traces' in html  # the UI's header on the report
    assert "infersight-findings-" not in html  # no temp-folder path leaks into the page
    links = sorted(set(re.findall(r"href='(/ui/trace/[0-9a-f]{32})'", html)))
    assert links
    for link in links[:3]:
        r = httpx.get(ui_collector.url + link, timeout=60)
        assert r.status_code == 200 and "is-wf" in r.text


def test_findings_for_an_empty_range_says_so(ui_collector: Collector) -> None:
    html = findings_page(ui_collector, timeout_s=60, **{"from": "1000", "to": "2000"})
    assert "no spans in this time range" in html
