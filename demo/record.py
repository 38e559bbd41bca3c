"""Write a scenario run as small Parquet files (+ labels.json) for tests and notebooks.

    python -m infersight.demo.record runs/full_sync tests/data/runs/full_sync
    python -m infersight.demo.record --all runs tests/data/runs

One zstd-compressed file per non-empty otel table (``otel_traces.parquet``,
``otel_metrics_<kind>.parquet``, ``otel_logs.parquet``), readable by
``infersight.collectors.reader.open_readonly(folder)``.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from infersight.demo._errors import DemoConfigError

log = logging.getLogger(__name__)

TABLES = ("otel_traces", "otel_logs", "otel_metrics_gauge", "otel_metrics_sum", "otel_metrics_histogram",
          "otel_metrics_exponential_histogram", "otel_metrics_summary")


def write_parquet(db: Path, labels: Path, out: Path) -> dict[str, int]:
    """Copy every non-empty otel table of ``db`` to ``out/<table>.parquet``; returns row counts."""
    from infersight.collectors.reader import open_readonly

    if not db.exists() or not labels.exists():
        raise DemoConfigError(f"need {db} and {labels} (run 'infersight demo scenario' first)")
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("otel_*.parquet"):
        old.unlink()
    con = open_readonly(db)
    counts: dict[str, int] = {}
    try:
        have = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
        for table in TABLES:
            if table not in have:
                continue
            row = con.execute(f'SELECT count(*) FROM "{table}"').fetchone()  # table from the fixed list
            n = row[0] if row else 0
            if not n:
                continue
            target = (out / f"{table}.parquet").as_posix().replace("'", "''")
            con.execute(f"COPY (SELECT * FROM \"{table}\") TO '{target}' "
                        "(FORMAT parquet, COMPRESSION zstd, COMPRESSION_LEVEL 9)")
            counts[table] = int(n)
    finally:
        con.close()
    data = json.loads(labels.read_text())
    data["tables"] = counts
    (out / "labels.json").write_text(json.dumps(data, indent=2))
    return counts


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m infersight.demo.record", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("src", type=Path, help="a run folder (telemetry.duckdb + labels.json), or with --all their parent")
    p.add_argument("dst", type=Path, help="output folder (with --all: parent of one folder per run)")
    p.add_argument("--all", action="store_true", help="convert every run folder under SRC")
    args = p.parse_args(argv)
    runs = sorted(d for d in args.src.iterdir() if (d / "labels.json").exists()) if args.all else [args.src]
    try:
        for run in runs:
            dst = args.dst / run.name if args.all else args.dst
            counts = write_parquet(run / "telemetry.duckdb", run / "labels.json", dst)
            size = sum(f.stat().st_size for f in dst.glob("*.parquet"))
            sys.stdout.write(f"{run} -> {dst}: {counts} ({size / 1e6:.2f} MB)\n")
    except (DemoConfigError, OSError) as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

__all__ = ["TABLES", "main", "write_parquet"]
