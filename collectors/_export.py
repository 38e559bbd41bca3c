"""``infersight export --parquet DIR``: every otel_* table as Hive-partitioned Parquet."""

from __future__ import annotations

from pathlib import Path

import duckdb

from ._errors import StorageError
from ._schema import METRIC_TABLES, TABLES
from .reader import open_readonly


def export_parquet(source: str, out: Path) -> dict[str, int]:
    """Write ``out/<table>/service=/date=/hour=/`` Parquet files; return rows per table."""
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StorageError(f"cannot create {out}: {exc.strerror}") from None
    con = open_readonly(source)
    counts: dict[str, int] = {}
    try:
        for table in TABLES:
            col = "TimeUnix" if table in METRIC_TABLES else "Timestamp"
            row = con.execute(f'SELECT count(*) FROM "{table}"').fetchone()
            n = int(row[0]) if row else 0
            counts[table] = n
            if not n:
                continue
            target = str(out / table).replace("'", "''")
            con.execute(
                f"""COPY (SELECT *, coalesce(nullif("ServiceName", ''), 'unknown') AS service,
                           strftime("{col}", '%Y-%m-%d') AS date, strftime("{col}", '%H') AS hour
                          FROM "{table}")
                    TO '{target}' (FORMAT parquet, PARTITION_BY (service, date, hour), OVERWRITE_OR_IGNORE true)""")
    except duckdb.Error as exc:
        raise StorageError(f"export failed: {str(exc).splitlines()[0]}") from None
    finally:
        con.close()
    return counts
