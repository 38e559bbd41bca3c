"""Live reads while the collector runs: ``GET /v1/live/<table>`` streams the table as Arrow IPC.

DuckDB lets one process open a file for writing, so a notebook cannot open the file while the
collector holds it. The collector answers instead: each request runs a read-only query on its
own cursor of the collector's database (MVCC snapshot; it never blocks ingest) and streams the
record batches. Staleness: none beyond commit - every acknowledged request is visible.
``?since=<unix ns>`` limits rows to ``TimeUnix``/``Timestamp`` at or after that instant (an
integer in 0 .. 2^62; anything else is a one-line 400). ``GET /v1/live/`` lists the tables and
``newest_ns`` (the newest span start), so a reader can turn "the last 30 minutes" into ``since``.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re
import urllib.parse
from collections.abc import Callable, Iterator
from typing import Any

import duckdb
import pyarrow as pa

from ._http import Receive, Scope, Send, _respond
from ._schema import SCHEMA_VERSION, TABLES

logger = logging.getLogger(__name__)
ARROW_STREAM = "application/vnd.apache.arrow.stream"
MAX_SINCE_NS = 1 << 62  # year 2116; DuckDB's timestamps end in 2262
_NS = re.compile(r"[0-9]{1,19}")
_TIME_COL = {t: ("TimeUnix" if t.startswith("otel_metrics") else "Timestamp") for t in TABLES}


class LiveReads:
    def __init__(self, con: duckdb.DuckDBPyConnection | Callable[[], duckdb.DuckDBPyConnection], *,
                 batch_rows: int = 65_536) -> None:
        """``con``: the collector's connection, or a function returning the current one (the
        writer may replace an invalidated connection)."""
        self._con_of: Callable[[], duckdb.DuckDBPyConnection] = con if callable(con) else (lambda: con)
        self._batch_rows = batch_rows

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] != "GET":
            await _respond(send, 405, b"use GET\n", "text/plain", [(b"allow", b"GET")])
            return
        name = scope["path"][len("/v1/live/"):].strip("/")
        if name == "":
            newest = await asyncio.to_thread(self._newest_ns)
            body = json.dumps({"schema_version": SCHEMA_VERSION, "tables": list(TABLES),
                               "newest_ns": newest}).encode()
            await _respond(send, 200, body, "application/json")
            return
        if name not in TABLES:
            await _respond(send, 404, f"unknown table {name!r}\n".encode(), "text/plain")
            return
        query = urllib.parse.parse_qs(scope.get("query_string", b"").decode("latin-1"))
        since = query.get("since", [""])[0]
        if since and not (_NS.fullmatch(since) and int(since) <= MAX_SINCE_NS):
            await _respond(send, 400, f"since must be unix nanoseconds, 0 to {MAX_SINCE_NS}\n".encode(),
                           "text/plain")
            return
        try:
            chunks = await asyncio.to_thread(self._open, name, int(since) if since else None)
        except duckdb.Error as exc:
            logger.warning("live read of %s failed: %s", name, str(exc).splitlines()[0])
            await _respond(send, 400, f"cannot read {name}: {str(exc).splitlines()[0]}\n".encode(), "text/plain")
            return
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", ARROW_STREAM.encode())]})
        while True:
            chunk = await asyncio.to_thread(next, chunks, None)
            if chunk is None:
                break
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b""})

    def _newest_ns(self) -> int | None:
        cur = self._con_of().cursor()
        try:
            row = cur.execute('SELECT epoch_ns(max("Timestamp")) FROM otel_traces').fetchone()
        finally:
            cur.close()
        return None if row is None or row[0] is None else int(row[0])

    def _open(self, table: str, since: int | None) -> Iterator[bytes]:
        cur = self._con_of().cursor()
        sql = f'SELECT * FROM "{table}"'
        params: list[Any] = []
        if since is not None:
            sql += f' WHERE "{_TIME_COL[table]}" >= make_timestamp_ns(?)'
            params.append(since)
        reader = cur.sql(sql, params=params).to_arrow_reader(self._batch_rows)
        return _ipc_chunks(cur, reader)


class _Drain(io.RawIOBase):
    """A write-only file that hands its bytes over as they arrive."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, b: Any) -> int:
        self.parts.append(bytes(b))
        return len(b)

    def take(self) -> bytes:
        out = b"".join(self.parts)
        self.parts.clear()
        return out


def _ipc_chunks(cur: duckdb.DuckDBPyConnection, reader: pa.RecordBatchReader) -> Iterator[bytes]:
    sink = _Drain()
    try:
        with pa.ipc.new_stream(sink, reader.schema) as writer:
            for batch in reader:
                writer.write_batch(batch)
                chunk = sink.take()
                if chunk:
                    yield chunk
        tail = sink.take()
        if tail:
            yield tail
    finally:
        cur.close()
