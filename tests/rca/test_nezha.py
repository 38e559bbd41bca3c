"""Nezha converter through a real collector, on tiny synthetic CSVs in Nezha's column format
(the dataset itself is not in CI), and the scorer's metric functions."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import duckdb
import pytest

from benchmarks.rca.nezha._cases import Case, load_cases, windows
from benchmarks.rca.nezha._ingest import ingest_case
from benchmarks.rca.nezha._score import ac_at, alarm_counts, avg_at, normalise, rank_of, ranked_services

GW, AUTH = "ts-gateway-service-6f6cfc45b-h5m2n", "ts-auth-service-7f8d7d756d-k7b9j"
T = "b0103bb0161ad7fa352fe1828eeb643a"
T0 = 1674981768_697_000_000
SPANS = [  # span, parent, pod, name, start offset ms, end offset ms
    ("520b067330e3ede5", "root", GW, "/*", 0, 318),
    ("a4424f20bffee416", "520b067330e3ede5", GW, "FilteringWebHandler.handle", 1, 317),
    ("5e89765a7f60ff70", "520b067330e3ede5", GW, "HTTP POST", 2, 316),
    ("7e28bdb6a47af144", "5e89765a7f60ff70", AUTH, "/api/v1/users/login", 4, 312),
    ("1111222233334444", "7e28bdb6a47af144", AUTH, "SELECT ts.auth_user", 10, 20),
]


def _write(path: Path, header: list[str], rows: list[list[object]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    return path


def _trace_rows(spans: list[tuple[str, str, str, str, int, int]]) -> list[list[object]]:
    ms = 1_000_000
    return [[T, s, p, pod, name, T0 + a * ms, T0 + b * ms, (b - a) * 1000] for s, p, pod, name, a, b in spans]


def test_converter_through_real_collector(tmp_path: Path) -> None:
    head = ["TraceID", "SpanID", "ParentID", "PodName", "OperationName", "StartTimeUnixNano", "EndTimeUnixNano",
            "Duration"]
    # two minute files that overlap by one span (as Nezha's do): it must be stored once
    f1 = _write(tmp_path / "trace" / "08_43_trace.csv", head, _trace_rows(SPANS[:3]))
    f2 = _write(tmp_path / "trace" / "08_44_trace.csv", head, _trace_rows(SPANS[2:]))
    line = f"16:42:48.700 ERROR  a.s.AuthServiceImpl#37 TraceID: {T} SpanID: 7e28bdb6a47af144 [login][failed]\n"
    log = _write(tmp_path / "log" / "08_43_log.csv",
                 ["Timestamp", "TimeUnixNano", "Node", "PodName", "Container", "TraceID", "SpanID", "Log"],
                 [["2023-01-29T08:42:48.7Z", T0 + 3_000_000, "33.33.33.116", AUTH, "server", T, "7e28bdb6a47af144",
                   json.dumps({"log": line, "stream": "stdout"})],
                  # a row whose TimeUnixNano overflowed (as in the real 09_21 file): the ISO time is used
                  ["2023-01-29T08:42:48.75", -6795364578871345152, "", AUTH, "server", "", "", "plain text"]])
    _write(tmp_path / "metric" / f"{AUTH}_metric.csv", ["Time", "TimeStamp", "PodName", "CpuUsage(m)"],
           [["x", T0 // 10**9 - 60, AUTH, 250.0]])
    case = Case("c", T0, AUTH, "cpu_contention", (f1, f2), (log,), tmp_path / "metric")
    got = ingest_case(case, tmp_path / "c.duckdb")
    assert (got.spans, got.logs, got.metric_points) == (5, 2, 1)

    con = duckdb.connect(str(tmp_path / "c.duckdb"), read_only=True)
    rows = {r[0]: r[1:] for r in con.sql(
        "SELECT SpanId, ParentSpanId, ServiceName, SpanKind, SpanAttributes, epoch_ns(Timestamp), Duration,"
        " ResourceAttributes['k8s.pod.name'] FROM otel_traces").fetchall()}
    assert len(rows) == 5
    expect = {"520b067330e3ede5": ("", "ts-gateway-service", "Server"),
              "a4424f20bffee416": ("520b067330e3ede5", "ts-gateway-service", "Internal"),
              "5e89765a7f60ff70": ("520b067330e3ede5", "ts-gateway-service", "Client"),
              "7e28bdb6a47af144": ("5e89765a7f60ff70", "ts-auth-service", "Server"),
              "1111222233334444": ("7e28bdb6a47af144", "ts-auth-service", "Client")}
    assert {k: (v[0] or "", v[1], v[2]) for k, v in rows.items()} == expect
    assert rows["520b067330e3ede5"][3]["http.route"] == "/*"
    assert rows["7e28bdb6a47af144"][3] == {"http.route": "/api/v1/users/login", "http.request.method": "POST"}
    assert rows["5e89765a7f60ff70"][3]["server.address"] == "ts-auth-service"
    assert rows["1111222233334444"][3]["db.system"] == "mysql"
    assert rows["520b067330e3ede5"][4:6] == (T0, 318_000_000)  # original timestamps kept
    assert rows["7e28bdb6a47af144"][6] == AUTH
    (sev, body, tid, sid, svc), plain = con.execute(
        "SELECT SeverityText, Body, TraceId, SpanId, ServiceName FROM otel_logs ORDER BY Timestamp").fetchall()
    assert plain[:4] == ("", "plain text", "", "")
    assert (sev, tid, sid, svc) == ("ERROR", T, "7e28bdb6a47af144", "ts-auth-service")
    assert body == line.rstrip("\n")
    assert con.sql("SELECT Value FROM otel_metrics_gauge WHERE MetricName = 'k8s.pod.cpu.usage'").fetchall() == [(0.25,)]
    con.close()


def test_cases_map_minute_files_and_windows(tmp_path: Path) -> None:
    day = tmp_path / "rca_data" / "2023-01-29"
    faults = {"09": [{"inject_time": "2023-01-29 09:59:39", "inject_timestamp": "0", "inject_type": "return",
                      "inject_pod": "ts-food-service-f5756978c-k8vqf"}]}
    day.mkdir(parents=True)
    (day / "2023-01-29-fault_list.json").write_text(json.dumps(faults))
    for kind in ("trace", "log"):
        for m in ("09_59", "10_00", "10_01"):
            _write(day / kind / f"{m}_{kind}.csv", ["x"], [])
    (case,) = load_cases(tmp_path)
    assert case.service == "ts-food-service" and case.case_id == "0959_food-service_return"
    assert [p.name for p in case.trace_files] == ["09_59_trace.csv", "10_00_trace.csv", "10_01_trace.csv"]
    assert case.inject_ns == 1674986379 * 10**9  # inject_time is UTC, the clock of the spans
    w = windows(case, case.inject_ns - 90 * 10**9, case.inject_ns + 150 * 10**9)
    assert w["pre"] == (case.inject_ns - 90 * 10**9, case.inject_ns)
    assert w["fault"] == (case.inject_ns, case.inject_ns + 150 * 10**9)


def test_metric_functions() -> None:
    assert rank_of("b", ["a", "b", "c"]) == 2
    assert rank_of("c", ["a", "a", "b", "c"]) == 3  # services count once
    assert rank_of("z", ["a"]) is None
    ranks = [1, 2, None, 4]
    assert ac_at(ranks, 1) == 0.25 and ac_at(ranks, 3) == 0.5 and ac_at(ranks, 5) == 0.75
    assert avg_at(ranks, 5) == pytest.approx((0.25 + 0.5 + 0.5 + 0.75 + 0.75) / 5)
    assert ac_at([], 1) == 0.0


def test_findings_to_services() -> None:
    svcs = ["ts-basic-service", "ts-order-service"]
    assert normalise("ts-basic-service-5dc8d4f9fd-46997") == "ts-basic-service"
    assert normalise("ts-order-service /api/v1/orderservice/order", svcs) == "ts-order-service"
    findings = [
        {"category": "slow_downstream", "confidence": 0.9, "root_cause": {"entity": "mysql"}},
        {"category": "code_defect", "confidence": 0.5,
         "root_cause": {"entity": "x", "service": "ts-order-service-5b67c48447-mv5hb"}},
        {"category": "slow_downstream", "confidence": 0.3, "root_cause": {"entity": "ts-order-service"}},
    ]
    ranked = ranked_services(findings, svcs)
    assert [r["service"] for r in ranked] == ["mysql", "ts-order-service"]
    assert [r["level"] for r in ranked] == ["high", "medium"]
    assert alarm_counts(findings) == {"findings": 3, "medium_or_high": 2, "high": 1}
