"""dashboards/build.py: generated JSON is current, names are checked, uids/variables stable."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import DASHBOARDS

EXPECTED_UIDS = {"infersight-overview", "infersight-runtime", "infersight-gpu",
                 "infersight-incident", "infersight-vllm"}


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(DASHBOARDS / "build.py"), *args],
                          capture_output=True, text=True, timeout=120)


def test_committed_json_is_current() -> None:
    r = _run("--check")
    assert r.returncode == 0, r.stderr
    assert "up to date" in r.stdout


def test_check_fails_on_stale_json(tmp_path: Path) -> None:
    out = tmp_path / "grafana"
    shutil.copytree(DASHBOARDS / "grafana", out)
    board = json.loads((out / "infersight-runtime.json").read_text())
    board["title"] = "hand-edited"
    (out / "infersight-runtime.json").write_text(json.dumps(board))
    (out / "stray.json").write_text("{}")
    r = _run("--check", "--out", str(out))
    assert r.returncode == 1
    assert "infersight-runtime.json is stale" in r.stderr
    assert "stray.json is not generated" in r.stderr


def test_check_fails_on_unknown_metric(build, monkeypatch: pytest.MonkeyPatch) -> None:
    import _overview  # importable once build.py put dashboards/ on sys.path
    from _kit import query

    original = _overview.build

    def with_typo():  # a panel naming a metric the catalog does not define
        d = original()
        return d.with_panel(build._runtime.ts("typo", [query("rate(http_server_request_total[1m])")]))

    monkeypatch.setattr(_overview, "build", with_typo)
    errors = build.check_names(build.render())
    assert errors == ["infersight-overview: panel 'typo' A: unknown metric 'http_server_request_total'"]


def test_vllm_allowlist_catches_typos(build) -> None:
    _catalog, external, _rules = build.known_series()
    assert "vllm:num_requests_waiting" in external
    assert "vllm:time_to_first_token_seconds_bucket" in external
    assert "vllm:num_request_waiting" not in external
    assert "vllm:prompt_tokens" not in external  # counters are only exposed as _total


def test_boards_have_stable_uids_and_variables(build) -> None:
    boards = {uid: json.loads(text) for uid, text in build.render().items()}
    assert set(boards) == EXPECTED_UIDS
    for uid, board in boards.items():
        assert board["uid"] == uid
        names = [v["name"] for v in board["templating"]["list"]]
        assert names[:3] == ["datasource", "job", "instance"], uid
        assert board["templating"]["list"][0]["type"] == "datasource"
        ids = [p["id"] for p in board["panels"]]
        assert ids == list(range(1, len(ids) + 1))
        for p in board["panels"]:
            if p["type"] != "row":
                assert p["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, p["title"]
                assert p["targets"], p["title"]
    assert "route" in [v["name"] for v in boards["infersight-overview"]["templating"]["list"]]
    assert "gpu" in [v["name"] for v in boards["infersight-gpu"]["templating"]["list"]]


def test_latency_panel_asks_for_exemplars(build) -> None:
    board = json.loads(build.render()["infersight-overview"])
    panel = next(p for p in board["panels"] if p["title"].startswith("Latency P50"))
    p99 = next(t for t in panel["targets"] if t["legendFormat"] == "P99")
    assert p99["exemplar"] is True and "0.99" in p99["expr"]


def test_incident_board_annotations(build) -> None:
    board = json.loads(build.render()["infersight-incident"])
    names = {a["name"]: a for a in board["annotations"]["list"]}
    assert set(names) == {"Job runs", "Gen-2 GC pauses", "GPU throttling"}
    assert all(a["step"] and a["titleFormat"] and a["expr"] for a in names.values())


def test_incident_main_panel_labels_each_series_in_its_unit(build) -> None:
    # P99 in seconds on the left; the GC pause share (a fraction of wall time) and job runs (a
    # count) each on a right axis of their own unit, never drawn as seconds
    from infersight.analysis._preview import panel_queries

    board = json.loads(build.render()["infersight-incident"])
    panel = next(p for p in board["panels"] if p["title"].startswith("P99 latency with job runs"))
    assert panel["fieldConfig"]["defaults"]["unit"] == "s"
    queries = {q.legend: q for q in panel_queries({"uid": board["uid"], "panels": [panel]})}
    assert (queries["P99 latency"].unit, queries["P99 latency"].right_axis) == ("s", False)
    assert (queries["GC pause share"].unit, queries["GC pause share"].right_axis) == ("percentunit", True)
    assert (queries["job runs"].unit, queries["job runs"].right_axis) == ("short", True)


def test_overview_collector_row_and_report_link(build) -> None:
    from infersight.instrument.metrics.catalog import CATALOG

    board = json.loads(build.render()["infersight-overview"])
    titles = [p["title"] for p in board["panels"]]
    start = titles.index("Collector (infersight collect)")
    panels = board["panels"][start + 1:]
    assert len(panels) == 5
    collector = {n for spec in CATALOG if spec.source == "collector" for n in spec.series_names()}
    used = {n for p in panels for t in p["targets"] for n in build.metric_names(t["expr"])}
    assert used and used <= collector
    assert {"infersight_collector_acknowledged_items_total", "infersight_collector_commit_duration_seconds_bucket",
            "infersight_collector_db_size_bytes"} <= used
    # the report link opens the collector UI's findings for the board's time range
    var = next(v for v in board["templating"]["list"] if v["name"] == "report_url")
    assert var["query"].endswith("/ui/findings")
    links = [ln for p in board["panels"] for ln in p.get("fieldConfig", {}).get("defaults", {}).get("links", [])]
    assert links and all(ln["url"] == "${report_url}?from=${__from}&to=${__to}" for ln in links)


def test_check_fails_on_unknown_label(build, monkeypatch: pytest.MonkeyPatch) -> None:
    import _runtime
    from _kit import query

    original = _runtime.build

    def with_typos():
        return original().with_panel(build._runtime.ts("typos", [
            query('sum by (http_routes) (rate(http_server_requests_total{http_status_class="5xx"}[1m]))'),
            query('infersight_gc_pause_duration_seconds_count{gen="2", job="x"}', ref="B"),
        ]))

    monkeypatch.setattr(_runtime, "build", with_typos)
    errors = build.check_names(build.render())
    assert errors == [
        "infersight-runtime: panel 'typos' A: grouping label 'http_routes' is on none of "
        "['http_server_requests_total']",
        "infersight-runtime: panel 'typos' B: metric 'infersight_gc_pause_duration_seconds_count' "
        "has no label 'gen'",
    ]


@pytest.mark.parametrize("uid", sorted(EXPECTED_UIDS))
def test_committed_json_parses_as_a_grafana_dashboard(uid: str) -> None:
    """The SDK's own dashboard model reads the committed file back with every panel intact."""
    from grafana_foundation_sdk.cog.encoder import JSONEncoder
    from grafana_foundation_sdk.models.dashboard import Dashboard

    raw = json.loads((DASHBOARDS / "grafana" / f"{uid}.json").read_text())
    model = Dashboard.from_json(raw)
    assert model.uid == uid and model.panels is not None
    again = json.loads(JSONEncoder().encode(model))
    assert [p["title"] for p in again["panels"]] == [p["title"] for p in raw["panels"]]
    assert [t["expr"] for p in again["panels"] for t in p.get("targets", [])] == \
        [t["expr"] for p in raw["panels"] for t in p.get("targets", [])]
