"""Group commit: the writer waits for announced requests (and only for them), one transaction per group."""

from __future__ import annotations

import concurrent.futures
from collections.abc import Iterator

import duckdb
import pyarrow as pa
import pytest
from infersight.collectors import OverloadedError
from infersight.collectors._schema import ensure_schema
from infersight.collectors._traces import convert_traces
from infersight.collectors._writer import Writer

from benchmarks.ingest.payload import make_request

LONG = 120.0  # linger: far longer than any result() wait below, so a wrong wait cannot pass


def _table(n: int, seed: int) -> dict[str, pa.Table]:
    return convert_traces(make_request(n, seed=seed)).tables


@pytest.fixture
def writer() -> Iterator[Writer]:
    con = duckdb.connect(":memory:")
    ensure_schema(con)
    w = Writer(con, linger_s=LONG, target_group_rows=10**6, max_queue_rows=4096)
    w.start()
    try:
        yield w
    finally:
        w.stop()
        con.close()


def _count(w: Writer) -> int:
    return int(w.call(lambda con: con.execute("SELECT count(*) FROM otel_traces").fetchone()[0]).result(60))


def test_lone_request_is_committed_without_lingering(writer: Writer) -> None:
    fut = writer.submit(_table(16, 1))
    fut.result(timeout=LONG / 4)  # nothing announced: no reason to wait for the linger
    assert (writer.commits, _count(writer)) == (1, 16)


def test_group_waits_for_announced_requests(writer: Writer) -> None:
    writer.incoming()
    writer.incoming()
    first = writer.submit(_table(16, 1), announced=True)
    with pytest.raises(concurrent.futures.TimeoutError):
        first.result(timeout=0.5)  # the second announced request is still on its way
    second = writer.submit(_table(8, 2), announced=True)
    first.result(timeout=LONG / 4)
    second.result(timeout=LONG / 4)
    assert (writer.commits, writer.rows_written, writer.incoming_requests) == (1, 24, 0)


def test_announced_request_that_gives_up_releases_the_group(writer: Writer) -> None:
    writer.incoming()
    writer.incoming()
    fut = writer.submit(_table(16, 1), announced=True)
    writer.incoming(-1)  # e.g. the other request was a 400
    fut.result(timeout=LONG / 4)
    assert writer.incoming_requests == 0


def test_overloaded_submit_still_ends_the_announcement(writer: Writer) -> None:
    writer.incoming()
    writer.incoming()
    first = writer.submit(_table(4000, 3), announced=True)  # queued; the writer waits for the other
    with pytest.raises(OverloadedError):
        writer.submit(_table(512, 4), announced=True)  # 4000 + 512 > max_queue_rows
    assert writer.incoming_requests == 0
    first.result(timeout=LONG / 4)  # nothing announced any more: the group goes


def test_multi_table_group_is_one_transaction(writer: Writer) -> None:
    bad = pa.table({"Timestamp": pa.array([None], pa.timestamp("ns"))})  # NOT NULL TraceId: fails
    ok = writer.submit({**_table(4, 1), "otel_logs": bad})
    with pytest.raises(Exception):  # noqa: B017 - StorageError from the one-by-one retry
        ok.result(timeout=LONG / 4)
    assert _count(writer) == 0  # the traces of that request were rolled back with the logs
