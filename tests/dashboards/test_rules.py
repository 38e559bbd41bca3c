"""Prometheus recording/alert rules: promtool checks them and runs their unit tests."""

from __future__ import annotations

import subprocess

import pytest

from .conftest import DASHBOARDS, need_binary

pytestmark = pytest.mark.prometheus
RULES = DASHBOARDS / "rules"


def test_promtool_check_rules() -> None:
    promtool = need_binary("promtool")
    files = sorted(str(p) for p in RULES.glob("*.yml"))
    assert len(files) >= 2
    r = subprocess.run([promtool, "check", "rules", *files], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr


def test_promtool_unit_tests() -> None:
    promtool = need_binary("promtool")
    tests = sorted(str(p.relative_to(RULES)) for p in (RULES / "tests").glob("*.test.yml"))
    assert tests
    r = subprocess.run([promtool, "test", "rules", *tests], cwd=RULES, capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.count("SUCCESS") == len(tests)


def test_required_rules_exist(build) -> None:
    names = {r.get("record") or r.get("alert") for r in build.load_rules()}
    for needed in ("job_http_route:http_server_request_duration_seconds:p95_5m",
                   "job_http_route:http_server_request_duration_seconds:p99_5m",
                   "job:infersight_gc_pause_duration_seconds:share_1m",
                   "job_gpu:infersight_gpu_throttled_seconds:5m",
                   "namespace_service:http_server_request_duration_seconds:p95_2m",
                   "InfersightScaleOutLatency"):
        assert needed in names
