"""RCA corpus: record labelled runs and score ``infersight diagnose`` on them.

    python -m benchmarks.rca.run --suite quick                 # score the committed quick recordings
    python -m benchmarks.rca.run --suite quick --record benchmarks/rca/data/quick   # re-record them live
    python -m benchmarks.rca.run --suite full                  # record (missing runs) + score, ~1 min/run
    python -m benchmarks.rca.run --suite full --score-only benchmarks/rca/data/full
    [--workload W] [--family F] [--fresh] [--json PATH] [--md PATH] [--no-write]

Writes benchmarks/results/rca_<suite>.json and the suite's section of docs/accuracy.md (only
for an unfiltered run, unless --json/--md name a path).
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from benchmarks.rca import _plan
from benchmarks.rca._procs import ROOT, last_cpu
from benchmarks.rca._report import document, markdown, update_doc
from benchmarks.rca._runner import execute
from benchmarks.rca._score import score_run

DATA = ROOT / "benchmarks" / "rca" / "data"
console = Console(stderr=True)


def _complete(folder: Path) -> bool:
    return (folder / "labels.json").exists() and (folder / "client.parquet").exists() and (folder / "telemetry").is_dir()


def record(plans: list[_plan.RunPlan], root: Path, fresh: bool) -> list[str]:
    todo = [p for p in plans if fresh or not _complete(root / p.run_id)]
    failed: list[str] = []
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  TextColumn("{task.fields[note]}"), console=console) as prog:
        runs = prog.add_task(f"recording {len(todo)} runs into {root}", total=len(todo), note="")
        for p in todo:
            prog.update(runs, description=f"[bold]{p.run_id}[/] ({p.duration_s:g}s)")
            try:
                labels = execute(p, root / p.run_id, status=lambda s: prog.update(runs, note=s),
                                 progress=lambda done, sent: prog.update(runs, note=f"{done}/{sent} requests"))
                prog.console.print(f"{p.run_id}: {labels['load']['requests']} requests in "
                                   f"{labels['load']['duration_s']} s, {labels['load']['errors']} errors, "
                                   f"wall {labels['timing']['wall_s']} s")
            except KeyboardInterrupt:
                raise
            except Exception as exc:
                logging.getLogger(__name__).exception("run %s failed", p.run_id)
                failed.append(f"{p.run_id}: {type(exc).__name__}: {exc}")
            prog.advance(runs)
    return failed


def score(root: Path, plans: list[_plan.RunPlan] | None, workload: str | None, family: str | None) -> list[dict[str, Any]]:
    wanted = {p.run_id for p in plans} if plans is not None else None
    folders = [f.parent for f in sorted(root.glob("*/labels.json"))]
    folders = [f for f in folders if (wanted is None or f.name in wanted) and _complete(f)]
    rows = []
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console) as prog:
        task = prog.add_task("diagnosing", total=len(folders))
        for f in folders:
            labels = json.loads((f / "labels.json").read_text())
            if (workload and labels["workload"] != workload) or (family and labels["family"] != family):
                prog.advance(task)
                continue
            prog.update(task, description=f"diagnosing {f.name}")
            rows.append(score_run(f))
            prog.advance(task)
    return rows


def _interrupt(signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.rca.run", description=__doc__.split("\n")[0])
    ap.add_argument("--suite", choices=sorted(_plan.SUITES), required=True)
    ap.add_argument("--workload")
    ap.add_argument("--family")
    ap.add_argument("--record", type=Path, help="record the suite live into DIR (missing runs; --fresh: all)")
    ap.add_argument("--score-only", type=Path, help="only score the recordings in DIR")
    ap.add_argument("--fresh", action="store_true", help="re-record runs that already exist")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--md", type=Path)
    ap.add_argument("--no-write", action="store_true", help="print the summary only")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    signal.signal(signal.SIGTERM, _interrupt)  # so a killed runner still stops its children by PID
    plans = _plan.suite(args.suite, args.workload, args.family, cpu=last_cpu())
    failed: list[str] = []
    if args.score_only:
        root = args.score_only
    elif args.record or args.suite == "full":
        root = args.record or DATA / "full"
        failed = record(plans, root, args.fresh)
    else:
        root = DATA / args.suite
    rows = score(root, None if args.score_only else plans, args.workload, args.family)
    if not rows:
        console.print(f"[red]no recorded runs to score under {root}[/]")
        return 1
    command = "python -m benchmarks.rca.run " + " ".join(argv if argv is not None else sys.argv[1:])
    rel = str(root.resolve().relative_to(ROOT)) if root.resolve().is_relative_to(ROOT) else str(root)
    doc = document(args.suite, rows, command, rel)
    if failed:
        doc["failed_runs"] = failed
    o = doc["overall"]
    console.print(f"[bold]{o['runs']} runs[/]: AC@1 {o['ac1']}, AC@3 {o['ac3']}, entity {o['entity_ok']}, "
                  f"right@1 {o['ac1_right']}, false alarms {o['false_alarm_rate']}; calibration "
                  + ", ".join(f"{k} {v['right']}/{v['findings']}" for k, v in doc["calibration"].items()))
    unfiltered = not (args.workload or args.family)
    if not args.no_write:
        out_json = args.json or (ROOT / "benchmarks" / "results" / f"rca_{args.suite}.json" if unfiltered else None)
        if out_json:
            out_json.write_text(json.dumps(doc, indent=1) + "\n")
            console.print(f"wrote {out_json}")
        out_md = args.md or (ROOT / "docs" / "accuracy.md" if unfiltered else None)
        if out_md:
            update_doc(out_md, args.suite, markdown(doc))
            console.print(f"updated {out_md}")
    for f in failed:
        console.print(f"[red]failed[/] {f}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
