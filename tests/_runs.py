"""The committed sample runs (tests/data/runs/<scenario>: real demo runs as Parquet) as a DuckDB
file a collector can open, for tests of the read side (Jaeger API, web UI)."""

from __future__ import annotations

from pathlib import Path

RUNS = Path(__file__).resolve().parent / "data" / "runs"


def run_db(scenario: str, path: Path) -> Path:
    """Create ``path`` with the collector's schema and the rows of ``tests/data/runs/<scenario>``."""
    from infersight.collectors._collector import open_database

    con = open_database(str(path))
    try:
        for parquet in sorted((RUNS / scenario).glob("otel_*.parquet")):
            con.execute(f'INSERT INTO "{parquet.stem}" BY NAME SELECT * FROM read_parquet(?)', [str(parquet)])
        con.execute("CHECKPOINT")
    finally:
        con.close()
    return path
