"""Score root-cause ranking on the Nezha Train-Ticket 2023-01-29 cases (service level).

    .venv/bin/python -m benchmarks.rca.nezha.run --data /path/to/nezha [--cases 0843,1331] \\
        [--method all|infersight|selftime] [--window fault|case|nezha] [--score-only]

``--data`` holds ``rca_data/2023-01-29`` and ``construct_data/2023-01-29`` of IntelligentDDS/Nezha
(the 2023-01-30 cases are held out and never read). Each case (and the fault-free minute) is converted
to OTLP and sent through a real ``infersight collect`` into ``<cache>/<case>.duckdb`` once; later runs
reuse those files (``--score-only`` insists on them), so re-scoring after an analysis change only
re-runs the diagnoses. Writes ``benchmarks/results/rca_nezha_2023-01-29.json`` and the Nezha section
of ``docs/accuracy.md``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from benchmarks.rca.nezha._cases import DAY, Case, fault_free_case, load_cases, windows
from benchmarks.rca.nezha._diagnose import diagnose, iso
from benchmarks.rca.nezha._ingest import ingest_case
from benchmarks.rca.nezha._report import merge_results, write_markdown
from benchmarks.rca.nezha._score import alarm_counts, rank_of, ranked_services, totals
from benchmarks.rca.nezha._selftime import rank_services

ROOT = Path(__file__).resolve().parents[3]
CONVERTER_VERSION = 1  # bump when the conversion changes: cached DuckDB files are rebuilt
WINDOWS_NOTE = (
    "Each fault owns three minute files (about 1 min before the injection, 2 min after; faults last "
    "3 min). Diagnosed window: the injection time (the label's `inject_time`, UTC) to the end of the "
    "case's data (`fault`); reference baseline for the self-time ranking and for `--baseline` when the "
    "CLI has it: from the case's first span (or the previous fault's end) to the injection (`pre`). "
    "Fault-free checks: the day's fault-free minute (construct_data, 08:48-08:51, all of it) and each "
    "case's `pre` window. Service = pod name without its ReplicaSet/pod suffixes; a finding's service "
    "is `root_cause.service or root_cause.entity`; AC@k counts distinct services in ranking order."
)
console = Console(stderr=True)


def _cached(case: Case, cache: Path, *, rebuild: bool, score_only: bool) -> dict[str, Any]:
    db, meta_path = cache / f"{case.case_id}.duckdb", cache / f"{case.case_id}.json"
    if db.is_file() and meta_path.is_file() and not rebuild:
        meta: dict[str, Any] = json.loads(meta_path.read_text())
        if meta.get("converter") == CONVERTER_VERSION:
            return {**meta, "db": str(db)}  # the cache folder may have moved
    if score_only:
        raise SystemExit(f"--score-only: no cached {db} (run once without --score-only)")
    got = ingest_case(case, db)
    meta = {"converter": CONVERTER_VERSION, "db": str(db), "spans": got.spans, "logs": got.logs,
            "metric_points": got.metric_points, "start_ns": got.start_ns, "end_ns": got.end_ns}
    meta_path.write_text(json.dumps(meta, indent=1))
    return meta


def _case_entry(case: Case, meta: dict[str, Any]) -> dict[str, Any]:
    return {"case": case.case_id, "inject_time": iso(case.inject_ns), "fault_type": case.fault_type,
            "inject_pod": case.pod, "expected_service": case.service, "spans": meta["spans"],
            "logs": meta["logs"]}


def _score_case(method: str, case: Case, meta: dict[str, Any], wins: dict[str, tuple[int, int]],
                window: str, services: list[str], *, pre_check: bool = True) -> dict[str, Any]:
    db = Path(meta["db"])
    entry = _case_entry(case, meta)
    entry["window"] = [iso(wins[window][0]), iso(wins[window][1])]
    entry["baseline"] = [iso(wins["pre"][0]), iso(wins["pre"][1])]
    if method == "selftime":
        ranking = rank_services(db, wins[window], wins["pre"])
    else:
        d = diagnose(db, wins[window], wins["pre"])
        ranking = ranked_services(d.get("findings", []), services)
        entry.update({"requests": d.get("requests"), "observed_p99_ms": d.get("observed_p99_ms"),
                      "findings": len(d.get("findings", []))})
        if d.get("error") or d.get("detector_errors"):
            entry["errors"] = {"run": d.get("error"), "stderr": d.get("stderr"), "detectors": d.get("detector_errors")}
    if method == "infersight" and pre_check:
        pre = diagnose(db, wins["pre"])
        entry["pre_window"] = {**alarm_counts(pre.get("findings", [])), "error": pre.get("error"),
                               "top": ranked_services(pre.get("findings", []), services)[:3]}
    entry["top5"] = ranking[:5]
    entry["rank"] = rank_of(case.service, [str(r["service"]) for r in ranking])
    return entry


def _services(cache: Path, metas: dict[str, dict[str, Any]]) -> list[str]:
    import duckdb

    found: set[str] = set()
    for meta in metas.values():
        con = duckdb.connect(meta["db"], read_only=True)
        try:
            found.update(r[0] for r in con.sql("SELECT DISTINCT ServiceName FROM otel_traces").fetchall())
        finally:
            con.close()
    return sorted(found)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, required=True, help="folder with rca_data/ and construct_data/")
    ap.add_argument("--cases", default="", help="comma-separated case ids or prefixes (default: all 28)")
    ap.add_argument("--method", choices=("all", "infersight", "selftime"), default="all")
    ap.add_argument("--window", choices=("fault", "case", "nezha"), default="fault")
    ap.add_argument("--cache", type=Path, default=ROOT / "runs" / "nezha", help="converted DuckDB files")
    ap.add_argument("--score-only", action="store_true", help="use the cached DuckDB files, convert nothing")
    ap.add_argument("--no-pre", action="store_true", help="skip the fault-free check on the pre-injection windows")
    ap.add_argument("--rebuild", action="store_true", help="convert and ingest again even when cached")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / f"rca_nezha_{DAY}.json")
    ap.add_argument("--md", default=str(ROOT / "docs" / "accuracy.md"), help="'' to skip")
    args = ap.parse_args(argv)

    cases = load_cases(args.data)
    if args.cases:
        wanted = [w.strip() for w in args.cases.split(",") if w.strip()]
        cases = [c for c in cases if any(c.case_id.startswith(w) for w in wanted)]
        if not cases:
            raise SystemExit(f"no case matches {args.cases!r}")
    free = fault_free_case(args.data)
    methods = ["infersight", "selftime"] if args.method == "all" else [args.method]
    args.cache.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    cols = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    metas: dict[str, dict[str, Any]] = {}
    with Progress(*cols, console=console) as prog:
        task = prog.add_task("convert + ingest", total=len(cases) + 1)
        for case in [*cases, free]:
            prog.update(task, description=f"convert + ingest {case.case_id}")
            metas[case.case_id] = _cached(case, args.cache, rebuild=args.rebuild, score_only=args.score_only)
            prog.advance(task)
    services = _services(args.cache, metas)
    out: dict[str, Any] = {"methods": {}}
    with Progress(*cols, console=console) as prog:
        for method in methods:
            task = prog.add_task(method, total=len(cases))
            entries = []
            for case in cases:
                prog.update(task, description=f"{method} {case.case_id}")
                m = metas[case.case_id]
                entries.append(_score_case(method, case, m, windows(case, m["start_ns"], m["end_ns"]),
                                           args.window, services, pre_check=not args.no_pre))
                prog.advance(task)
            ranks = [e["rank"] for e in entries]
            result: dict[str, Any] = {"totals": totals(ranks), "cases": entries}
            if method == "infersight":
                prog.update(task, description="infersight fault-free minute")
                fm = diagnose(Path(metas[free.case_id]["db"]), None)
                pres = [e["pre_window"] for e in entries if "pre_window" in e]
                result["fault_free"] = {
                    "minute": {**alarm_counts(fm.get("findings", [])), "error": fm.get("error"),
                               "top": ranked_services(fm.get("findings", []), services)[:5]},
                    "pre_windows": {"windows": len(pres),
                                    "with_medium_or_high": sum(p["medium_or_high"] > 0 for p in pres),
                                    "with_high": sum(p["high"] > 0 for p in pres)} if pres else None}
            out["methods"][method] = result
    cmd = (f"python -m benchmarks.rca.nezha.run --data NEZHA --method {args.method} --window {args.window}"
           + (f" --cases {args.cases}" if args.cases else ""))
    out.update({"command": cmd, "dataset": f"IntelligentDDS/Nezha rca_data/{DAY} ({len(cases)} cases) + "
                f"construct_data/{DAY} (fault-free); 2023-01-30 held out.", "window": args.window,
                "windows_note": WINDOWS_NOTE, "cache": str(args.cache), "seconds": round(time.monotonic() - t0, 1)})
    merged = merge_results(args.out, out)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(merged, indent=1) + "\n")
    if args.md:
        write_markdown(Path(args.md), merged)
    table = Table(title=f"Nezha {DAY}, service level ({args.window} window)")
    for col in ("method", "cases", "AC@1", "AC@3", "Avg@5", "fault-free minute ≥medium/high"):
        table.add_column(col)
    for name, m in out["methods"].items():
        t, ff = m["totals"], (m.get("fault_free") or {}).get("minute")
        table.add_row(name, str(t["cases"]), f"{t['AC@1']:.2f}", f"{t['AC@3']:.2f}", f"{t['Avg@5']:.2f}",
                      f"{ff['medium_or_high']}/{ff['high']}" if ff else "n/a")
    Console().print(table)
    console.print(f"wrote {args.out}" + (f" and {args.md}" if args.md else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
