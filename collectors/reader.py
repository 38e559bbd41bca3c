"""``open_readonly(source)``: a DuckDB connection in which the ``otel_*`` tables are queryable.

``source`` may be
  * a DuckDB file (collector stopped): opened read-only;
  * a DuckDB file a running collector holds: the collector's sidecar file
    (``<db>.collector.json``) gives its URL and the data is read live from it (below);
  * a running collector's URL (``http://127.0.0.1:4318``): every table is fetched from
    ``GET /v1/live/<table>`` as Arrow and loaded into an in-memory DuckDB. The snapshot is as of
    the call (staleness 0 s for acknowledged data; call again to refresh). ``since_ns`` limits
    it to recent rows. A token comes from ``token=`` or ``$INFERSIGHT_TOKEN``;
  * a directory of Parquet files: ``otel_traces.parquet`` ... or the ``infersight export``
    layout ``otel_traces/service=.../date=.../hour=.../*.parquet``, exposed as views.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from pathlib import Path

import duckdb
import pyarrow as pa

from ._collector import sidecar_path
from ._errors import SchemaVersionError, StorageError
from ._schema import SCHEMA_VERSION, TABLES, current_version

__all__ = ["open_readonly"]


def open_readonly(source: str | os.PathLike[str], *, token: str | None = None, since_ns: int | None = None,
                  timeout: float = 60.0) -> duckdb.DuckDBPyConnection:
    text = str(source)
    if text.startswith(("http://", "https://")):
        return _from_url(text, token=token, since_ns=since_ns, timeout=timeout)
    path = Path(text)
    if path.is_dir():
        return _from_parquet_dir(path)
    if not path.exists():
        raise StorageError(f"{text} does not exist (expected a DuckDB file, a Parquet folder or a collector URL)")
    try:
        con = duckdb.connect(text, read_only=True)
    except duckdb.Error as exc:
        side = sidecar_path(text)
        held = "lock" in str(exc).lower() or "different configuration" in str(exc)
        if held and side.exists():
            url = json.loads(side.read_text())["url"]
            return _from_url(url, token=token, since_ns=since_ns, timeout=timeout)
        raise StorageError(f"cannot open {text} read-only: {str(exc).splitlines()[0]}") from None
    version = current_version(con)
    if version is not None and version > SCHEMA_VERSION:
        con.close()
        raise SchemaVersionError(f"{text} has schema version {version}; this infersight reads up to {SCHEMA_VERSION}")
    return con


def _from_url(url: str, *, token: str | None, since_ns: int | None, timeout: float) -> duckdb.DuckDBPyConnection:
    token = token or os.environ.get("INFERSIGHT_TOKEN") or None
    con = duckdb.connect(":memory:")
    for table in TABLES:
        q = f"?since={since_ns}" if since_ns is not None else ""
        req = urllib.request.Request(f"{url.rstrip('/')}/v1/live/{table}{q}")
        if token:
            req.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 - user-given URL
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
        raise StorageError(f"{path} has no otel_*.parquet files or otel_*/ folders")
    return con


def _q(p: Path) -> str:
    return str(p).replace("'", "''")
