"""CPU µs per span of each ingest stage, on the benchmark's payloads (process CPU time, best of N).

    .venv/bin/python -m benchmarks.ingest.profile [--bodies 100] [--reps 3]

Stages: protobuf parse (the wire decoder), convert to Arrow, Arrow IPC to/from a decode worker,
and the DuckDB insert+commit into a fresh file with the collector's settings, per commit-group
size. CPU time (not wall time) so that the numbers mean something on a busy shared machine;
HTTP and the hand-off between processes are not in here (see the per-process CPU of the
sustained benchmark for those).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa

from benchmarks.ingest._client import build_pool


def _best(fn: Callable[[], Any], reps: int) -> float:
    best = float("inf")
    for _ in range(reps):
        t0 = time.process_time()
        fn()
        best = min(best, time.process_time() - t0)
    return best


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bodies", type=int, default=100)
    ap.add_argument("--spans", type=int, default=512)
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args(argv)

    from infersight.collectors._collector import open_database
    from infersight.collectors._pool import _work
    from infersight.collectors._signals import SIGNALS
    from infersight.collectors._writer import Writer

    sig = SIGNALS["traces"]
    bodies = build_pool(0, args.bodies, args.spans)
    n = args.bodies * args.spans
    pb = "application/x-protobuf"
    rows: list[tuple[str, float]] = []
    msgs = [sig.decode(b, pb) for b in bodies]
    rows.append(("parse (wire)", _best(lambda: [sig.decode(b, pb) for b in bodies], args.reps)))
    rows.append(("convert to Arrow", _best(lambda: [sig.convert(m) for m in msgs], args.reps)))
    ipc = [_work("traces", b, pb)[0]["otel_traces"] for b in bodies]
    rows.append(("worker total (parse+convert+IPC write)",
                 _best(lambda: [_work("traces", b, pb) for b in bodies], args.reps)))
    rows.append(("IPC read (main)", _best(lambda: [pa.ipc.open_stream(x).read_all() for x in ipc], args.reps)))
    tables = [sig.convert(m).tables["otel_traces"] for m in msgs]
    for group in (1, 2, 4, 8):
        with tempfile.TemporaryDirectory() as d:
            con = open_database(str(Path(d) / "p.duckdb"), memory_limit="128MB", threads=1,
                                checkpoint_threshold="64MB")
            w = Writer(con)

            def insert(w: Writer = w, group: int = group) -> None:
                for i in range(0, len(tables), group):
                    w._insert({"otel_traces": tables[i:i + group]})

            rows.append((f"DuckDB insert+commit, {group * args.spans} rows/commit", _best(insert, args.reps)))
            con.close()
    for name, cpu in rows:
        print(f"{name:45s} {cpu / n * 1e6:6.2f} µs/span")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
