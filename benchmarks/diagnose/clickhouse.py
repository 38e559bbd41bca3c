"""Diagnose on ClickHouse (chDB, the engine in process) next to DuckDB, at growing span counts.

    .venv/bin/python benchmarks/diagnose/clickhouse.py --spans 1000000 3000000 10000000

For each size: synthesises the DuckDB file with benchmarks/diagnose/run.py's SQL (synth.sql),
copies it into the OTel Collector ClickHouse exporter's tables in a fresh chDB folder
(``infersight export --clickhouse``'s code, the exporter's own DDL: MergeTree, codecs, partitions),
then times ``diagnose`` once on each engine, each in a child process of its own (so peak memory,
``VmHWM``, is that engine's alone, chDB's engine included: it runs in process). Writes benchmarks/results/diagnose_clickhouse.json with
the command, the machine and its load (the box is shared: wall times include waiting for a core).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).parent))

CHILD = """
import json, sys, time
from infersight.analysis import connect, diagnose
def peak_mib():  # VmHWM: this process's own peak (ru_maxrss would carry the parent's over exec)
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024)
t = time.perf_counter(); c0 = time.process_time()
with connect(sys.argv[1]) as tel:
    r = diagnose(tel)
    n = int(tel.span_count)
d = r.to_dict()
print()
print(json.dumps({"seconds": round(time.perf_counter() - t, 2), "cpu_seconds": round(time.process_time() - c0, 2),
                  "peak_rss_mib": peak_mib(),
                  "spans": n, "requests": d.get("requests"),
                  "findings": [f["category"] for f in d["findings"]], "errors": d.get("detector_errors")}))
"""


def _available_mib() -> int:
    for line in open("/proc/meminfo"):
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) // 1024
    return 0


def _rss_mib(pid: int) -> int:
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) // 1024
    except OSError:
        pass
    return 0


def run_child(source: str, timeout: float, min_free_mib: int = 1536) -> dict[str, object]:
    """Diagnose ``source`` in a child process. A watchdog stops it when the machine's available
    memory falls under ``min_free_mib`` (the box is shared: never push others into the OOM killer)."""
    proc = subprocess.Popen([sys.executable, "-c", CHILD, source], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    start, peak_seen = time.perf_counter(), 0
    stop: str | None = None
    while proc.poll() is None:
        peak_seen = max(peak_seen, _rss_mib(proc.pid))
        if _available_mib() < min_free_mib:
            stop = f"stopped by the watchdog: machine's available memory under {min_free_mib} MiB, child RSS {peak_seen} MiB"
        elif time.perf_counter() - start > timeout:
            stop = f"timed out after {timeout:.0f} s"
        if stop:
            proc.kill()
            proc.wait()
            return {"error": stop, "seconds_until_stopped": round(time.perf_counter() - start, 1),
                    "child_rss_mib_seen": peak_seen}
        time.sleep(0.5)
    out, err = proc.communicate()
    if proc.returncode != 0:
        return {"error": (err.strip().splitlines() or ["?"])[-1], "returncode": proc.returncode}
    if '{"seconds"' not in out:
        return {"error": "no result line", "stdout_tail": out[-300:], "stderr_tail": err[-300:]}
    return dict(json.loads(out[out.rindex('{"seconds"'):].splitlines()[0]))


def main() -> int:
    from infersight.collectors.clickhouse import export_to_clickhouse
    from run import synthesise  # benchmarks/diagnose/run.py

    ap = argparse.ArgumentParser()
    ap.add_argument("--spans", type=int, nargs="+", default=[1_000_000, 3_000_000, 10_000_000])
    ap.add_argument("--work", type=Path, default=Path("/tmp/infersight_ch_bench"))
    ap.add_argument("--timeout", type=float, default=1800)
    ap.add_argument("--engines", nargs="+", default=["duckdb", "chdb"], choices=["duckdb", "chdb"])
    ap.add_argument("--append", action="store_true", help="add these sizes to the sizes already in --out")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "diagnose_clickhouse.json")
    args = ap.parse_args()
    import chdb
    import duckdb

    doc: dict[str, object] = {
        "benchmark": "diagnose on ClickHouse (chDB) vs DuckDB",
        "command": "python benchmarks/diagnose/clickhouse.py " + " ".join(sys.argv[1:]),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "duckdb": duckdb.__version__,
                    "chdb": chdb.__version__, "clickhouse_engine": chdb.engine_version,
                    "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
                    "load_average_1m_before": round(os.getloadavg()[0], 1),
                    "note": "shared 2-core machine: other engineers' tests ran at the same time"},
        "sizes": []}
    if args.append and args.out.exists():
        old = json.loads(args.out.read_text())
        doc["sizes"] = old["sizes"]
        doc["notes"] = old.get("notes", [])
        doc["command"] = old["command"] + " ; " + str(doc["command"])
    args.work.mkdir(parents=True, exist_ok=True)
    for n in args.spans:
        db = args.work / f"bench_{n}.duckdb"
        ch_dir = args.work / f"ch_{n}"
        shutil.rmtree(ch_dir, ignore_errors=True)
        synth_s = synthesise(db, n)
        t = time.perf_counter()
        counts = export_to_clickhouse(str(db), f"chdb:{ch_dir}?database=otel")
        copy_s = time.perf_counter() - t
        ch_bytes = sum(f.stat().st_size for f in ch_dir.rglob("*") if f.is_file())
        row = {"spans": counts.get("otel_traces", 0), "synthesis_seconds": round(synth_s, 1),
               "copy_to_chdb_seconds": round(copy_s, 1), "duckdb_file_mib": round(db.stat().st_size / 2**20),
               "chdb_folder_mib": round(ch_bytes / 2**20),
               "chdb_bytes_per_span": round(ch_bytes / max(1, counts.get("otel_traces", 1)), 1),
               "duckdb": run_child(str(db), args.timeout) if "duckdb" in args.engines else "not run",
               "chdb": run_child(f"chdb:{ch_dir}?database=otel", args.timeout) if "chdb" in args.engines else "not run"}
        doc["sizes"].append(row)  # type: ignore[union-attr]
        print(json.dumps(row), flush=True)
        args.out.write_text(json.dumps(doc, indent=2) + "\n")  # a size that later fails keeps these
        db.unlink(missing_ok=True)
        shutil.rmtree(ch_dir, ignore_errors=True)
    doc["machine"]["load_average_1m_after"] = round(os.getloadavg()[0], 1)  # type: ignore[index]
    args.out.write_text(json.dumps(doc, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
