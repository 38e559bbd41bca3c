"""Memory under concurrent uploads: chunked gzip bodies held open on 1, 8 and 32 connections.

Asserts on the collector's accounting (bytes it counts while bodies stream in, before they are
complete), then on what that accounting buys: statuses and the process' RSS growth at the moment
every connection has been read. Nothing here depends on timing.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ._uploads import SLACK, run_uploads

pytestmark = pytest.mark.integration
BODY = 16 << 20  # each upload inflates to 16 MiB (16 KiB on the wire)
BUDGET = 32 << 20  # the collector holds at most two of them at once


@pytest.mark.parametrize("connections", [1, 8, 32])
def test_concurrent_chunked_gzip_uploads_stay_inside_the_budget(tmp_path: Path, connections: int) -> None:
    r = run_uploads(tmp_path, connections, body_bytes=BODY, budget_bytes=BUDGET)
    assert not r.errors, r
    # every byte held by an admitted upload was counted while it streamed in (before its end)
    assert r.held_when_all_read >= r.expected_held - (connections * SLACK), r
    assert r.held_when_all_read <= BUDGET and r.peak_accounted <= BUDGET, r
    admitted = r.statuses.get("200", 0)
    assert admitted >= 1, f"a body that fits the budget must be accepted: {r}"
    assert admitted <= BUDGET // BODY, r
    assert set(r.statuses) <= {"200", "503"}, r
    assert r.statuses.get("503", 0) == connections - admitted and r.retry_after_missing == 0, r
    if connections > BUDGET // BODY:
        assert r.refused_by_budget >= connections - admitted, r
    # what the accounting buys: the process grew by about what it admitted, not by N bodies
    assert r.rss_growth < BUDGET + (48 << 20), f"RSS grew {r.rss_growth >> 20} MiB: {r}"
