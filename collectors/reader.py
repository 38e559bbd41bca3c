"""``open_readonly(source)``: a DuckDB connection in which the ``otel_*`` tables are queryable.

``source`` may be
  * a DuckDB file (collector stopped): opened read-only;
  * a DuckDB file a running collector holds: the collector's sidecar file
    (``<db>.collector.json``) gives its URL and the data is read live from it (below). The
    sidecar is followed only when this user owns it and its URL is loopback: a file someone else
    wrote must not send our token (or our reads) anywhere else;
  * a running collector's URL (``http://127.0.0.1:4318``): every table is fetched from
    ``GET /v1/live/<table>`` as Arrow and loaded into an in-memory DuckDB. The snapshot is as of
    the call (staleness 0 s for acknowledged data; call again to refresh). ``since_ns`` limits
    it to recent rows (the collector filters; see :func:`live_newest_ns`). A token comes from
    ``token=`` or ``$INFERSIGHT_TOKEN`` and goes only to that URL (redirects are refused);
  * a directory of Parquet files: ``otel_traces.parquet`` ... or the ``infersight export``
    layout ``otel_traces/service=.../date=.../hour=.../*.parquet``, exposed as views.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from ._collector import sidecar_path
from ._errors import NotTelemetryError, SchemaVersionError, StorageError
from ._hosts import url_is_loopback
from ._schema import SCHEMA_VERSION, TABLES, current_version

__all__ = ["collector_url", "live_newest_ns", "open_readonly"]


def open_readonly(source: str | os.PathLike[str], *, token: str | None = None, since_ns: int | None = None,
                  timeout: float = 60.0) -> duckdb.DuckDBPyConnection:
    text = str(source)
    if text.startswith(("http://", "https://")):
        return _from_url(text, token=token, since_ns=since_ns, timeout=timeout)
    path = Path(text)
    if path.is_dir():
        return _from_parquet_dir(path)
    if not path.exists():
        raise NotTelemetryError(f"{text} does not exist (expected a DuckDB file, a Parquet folder or a collector URL)")
    try:
        con = duckdb.connect(text, read_only=True)
    except duckdb.Error as exc:
        held = "lock" in str(exc).lower() or "different configuration" in str(exc)
        url = _sidecar_url(text) if held else None
        if url is not None:
            return _from_url(url, token=token, since_ns=since_ns, timeout=timeout)
        raise NotTelemetryError(f"cannot open {text} read-only: {str(exc).splitlines()[0]}") from None
    version = current_version(con)
    if version is not None and version > SCHEMA_VERSION:
        con.close()
        raise SchemaVersionError(f"{text} has schema version {version}; this infersight reads up to {SCHEMA_VERSION}")
    return con


def collector_url(source: str | os.PathLike[str]) -> str | None:
    """The URL to read ``source`` live from: itself if it is a URL, the collector's for a DB file
    a running collector holds (its sidecar, when trusted), else None (read the file directly)."""
    text = str(source)
    if text.startswith(("http://", "https://")):
        return text
    if not Path(text).is_file() or not sidecar_path(text).exists():
        return None
    try:
        duckdb.connect(text, read_only=True).close()
        return None  # no collector holds it
    except duckdb.Error as exc:
        if "lock" in str(exc).lower() or "different configuration" in str(exc):
            return _sidecar_url(text)
        return None


def _sidecar_url(db: str) -> str | None:
    """The URL in ``<db>.collector.json`` if this user wrote it and it is loopback; StorageError
    for a sidecar we must not follow; None when there is none."""
    side = sidecar_path(db)
    try:
        st = side.stat()
        url = str(json.loads(side.read_text())["url"])
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise StorageError(f"{db} is held by a running collector, but {side} is unreadable: {exc}") from None
    if st.st_uid != os.getuid():
        raise StorageError(f"{db} is held by a running collector, but {side} belongs to another user "
                           f"(uid {st.st_uid}): not following it; pass the collector's URL yourself")
    if not url_is_loopback(url):
        raise StorageError(f"{db} is held by a running collector, but {side} names a non-loopback URL "
                           f"({url}): not following it; pass the collector's URL yourself")
    return url


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect would carry the bearer token to wherever it points: refuse it."""

    def redirect_request(self, req: Any, fp: Any, code: int, msg: str, headers: Any, newurl: str) -> None:
        raise urllib.error.HTTPError(req.full_url, code, f"redirect to {newurl} refused", headers, fp)


_OPENER = urllib.request.build_opener(_NoRedirect)


def live_newest_ns(url: str, *, token: str | None = None, timeout: float = 60.0) -> int | None:
    """The newest span start (unix ns) a running collector holds, None when it holds none."""
    req = _request(f"{url.rstrip('/')}/v1/live/", token)
    try:
        with _OPENER.open(req, timeout=timeout) as resp:
            doc = json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        hint = " (pass token= or set INFERSIGHT_TOKEN)" if exc.code == 401 else ""
        raise StorageError(f"{url}: live read failed: HTTP {exc.code}{hint}") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise StorageError(f"{url}: live read failed: {exc}") from None
    newest = doc.get("newest_ns") if isinstance(doc, dict) else None
    return int(newest) if isinstance(newest, int) else None


def _request(url: str, token: str | None) -> urllib.request.Request:
    req = urllib.request.Request(url)
    token = token or os.environ.get("INFERSIGHT_TOKEN") or None
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    return req


def _from_url(url: str, *, token: str | None, since_ns: int | None, timeout: float) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(":memory:")
    for table in TABLES:
        q = f"?since={max(0, since_ns)}" if since_ns is not None else ""
        req = _request(f"{url.rstrip('/')}/v1/live/{table}{q}", token)
        try:
            with _OPENER.open(req, timeout=timeout) as resp:
                arrow = pa.ipc.open_stream(resp).read_all()
        except urllib.error.HTTPError as exc:
            con.close()
            hint = " (pass token= or set INFERSIGHT_TOKEN)" if exc.code == 401 else ""
            raise StorageError(f"{url}: live read of {table} failed: HTTP {exc.code}{hint}") from None
        except (urllib.error.URLError, OSError, pa.ArrowInvalid) as exc:
            con.close()
            raise StorageError(f"{url}: live read of {table} failed: {exc}") from None
        con.register("_infersight_live", arrow)
        con.execute(f'CREATE TABLE "{table}" AS SELECT * FROM _infersight_live')
        con.unregister("_infersight_live")
    return con


def _from_parquet_dir(path: Path) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(":memory:")
    found = 0
    for table in TABLES:
        single = path / f"{table}.parquet"
        folder = path / table
        if single.is_file():
            src = f"read_parquet('{_q(single)}')"
        elif folder.is_dir() and any(folder.rglob("*.parquet")):
            src = f"read_parquet('{_q(folder)}/**/*.parquet', hive_partitioning = true, union_by_name = true)"
        else:
            continue
        cols = "* EXCLUDE (service, date, hour)" if folder.is_dir() and not single.is_file() else "*"
        con.execute(f'CREATE VIEW "{table}" AS SELECT {cols} FROM {src}')
        found += 1
    if not found:
        con.close()
        raise NotTelemetryError(f"{path} has no otel_*.parquet files or otel_*/ folders")
    return con


def _q(p: Path) -> str:
    return str(p).replace("'", "''")
