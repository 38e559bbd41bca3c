"""Aggregating scored runs: per workload x family accuracy, false alarms, calibration; JSON + markdown."""

from __future__ import annotations

import subprocess
from collections import defaultdict
from pathlib import Path
from statistics import mean
from typing import Any

from benchmarks.rca._procs import ROOT
from benchmarks.rca._score import level

LEVELS = ("low", "medium", "high")


def _git(*args: str) -> str:
    try:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


def _rate(xs: list[bool]) -> float | None:
    return round(sum(xs) / len(xs), 3) if xs else None


def aggregate(rows: list[dict[str, Any]]) -> dict[str, Any]:
    cells: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        for f in r["faults"]:
            cells[(r["workload"], r["family"])].append(f)
    table = []
    for (w, fam), fs in sorted(cells.items()):
        confs = [f["confidence"] for f in fs if f["confidence"] is not None]
        table.append({"workload": w, "family": fam, "faults": len(fs), "ac1": _rate([f["ac1"] for f in fs]),
                      "ac3": _rate([f["ac3"] for f in fs]), "entity_ok": _rate([f["entity_ok"] for f in fs]),
                      "ac1_right": _rate([f["ac1_right"] for f in fs]), "ac3_right": _rate([f["ac3_right"] for f in fs]),
                      "mean_confidence": round(mean(confs), 3) if confs else None})
    healthy: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        if r["healthy"]:
            healthy[r["workload"]].append(r)
    false_alarm = {w: {"runs": len(rs), "false_alarms": sum(r["false_alarm"] for r in rs),
                       "rate": _rate([r["false_alarm"] for r in rs]),
                       "max_confidence": max(r["max_confidence"] for r in rs)} for w, rs in sorted(healthy.items())}
    calib: dict[str, dict[str, Any]] = {lv: {"findings": 0, "right": 0} for lv in LEVELS}
    for r in rows:
        for f in r["findings"]:
            c = calib[level(f["confidence"])]
            c["findings"] += 1
            c["right"] += bool(f["right"])
    for c in calib.values():
        c["fraction_right"] = round(c["right"] / c["findings"], 3) if c["findings"] else None
    faults = [f for r in rows for f in r["faults"]]
    two = [r for r in rows if r["family"] == "two_faults"]
    overall = {"runs": len(rows), "fault_runs": sum(not r["healthy"] for r in rows), "injected_faults": len(faults),
               "healthy_runs": sum(r["healthy"] for r in rows), "ac1": _rate([f["ac1"] for f in faults]),
               "ac3": _rate([f["ac3"] for f in faults]), "entity_ok": _rate([f["entity_ok"] for f in faults]),
               "ac1_right": _rate([f["ac1_right"] for f in faults]),
               "false_alarm_rate": _rate([r["false_alarm"] for r in rows if r["healthy"]]),
               "two_fault_runs_both_right_at3": _rate([all(f["ac3_right"] for f in r["faults"]) for r in two]),
               "requests": sum(r["client"]["requests"] for r in rows),
               "load_seconds": round(sum(r["load"]["duration_s"] for r in rows), 1)}
    return {"overall": overall, "by_family": table, "false_alarm": false_alarm, "calibration": calib}


def document(suite: str, rows: list[dict[str, Any]], command: str, data_dir: str) -> dict[str, Any]:
    return {"suite": suite, "command": command, "data": data_dir,
            "analysis_commit": _git("log", "-1", "--format=%H", "--", "analysis"), "repo_commit": _git("rev-parse", "HEAD"),
            "metrics": METRICS, **aggregate(rows), "runs": rows}


METRICS = {
    "ac1/ac3": "the first finding whose category is one of the fault's accepted categories is ranked 1 / <= 3",
    "entity_ok": "that finding's root_cause.service or root_cause.entity (normalised) names the fault's entity/service",
    "ac1_right/ac3_right": "a finding that is right (accepted category AND entity) is ranked 1 / <= 3",
    "mean_confidence": "confidence of the matching finding (the right one, else the category match), when found",
    "false_alarm": "healthy run with any finding at confidence >= 0.4 (medium or high)",
    "calibration": "all findings of all runs by level: fraction right (healthy-run findings are all wrong)",
    "two_faults": "each injected fault scored on its own against the same ranked list; plus both right in the top 3",
}


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x:.0%}"


def markdown(doc: dict[str, Any]) -> str:
    o = doc["overall"]
    lines = [f"## RCA corpus, `--suite {doc['suite']}`", "",
             f"`{doc['command']}`, analysis at commit `{doc['analysis_commit'][:10]}`: {o['runs']} runs "
             f"({o['fault_runs']} with faults, {o['healthy_runs']} healthy), {o['requests']:,} requests over "
             f"{o['load_seconds']:,.0f} s of load. Overall AC@1 {_pct(o['ac1'])}, AC@3 {_pct(o['ac3'])}, entity "
             f"correct {_pct(o['entity_ok'])}, right (category + entity) at rank 1 {_pct(o['ac1_right'])}; "
             f"false alarms on healthy runs {_pct(o['false_alarm_rate'])}.", "",
             "| workload | fault family | faults | AC@1 | AC@3 | entity correct | right@1 | confidence |",
             "|---|---|---|---|---|---|---|---|"]
    for c in doc["by_family"]:
        conf = "-" if c["mean_confidence"] is None else f"{c['mean_confidence']:.2f}"
        lines.append(f"| {c['workload']} | {c['family']} | {c['faults']} | {_pct(c['ac1'])} | {_pct(c['ac3'])} | "
                     f"{_pct(c['entity_ok'])} | {_pct(c['ac1_right'])} | {conf} |")
    lines += ["", "| workload | healthy runs | with a finding >= medium | false-alarm rate | highest confidence |",
              "|---|---|---|---|---|"]
    for w, fa in doc["false_alarm"].items():
        lines.append(f"| {w} | {fa['runs']} | {fa['false_alarms']} | {_pct(fa['rate'])} | {fa['max_confidence']:.2f} |")
    lines += ["", "| confidence level | findings | right | fraction right |", "|---|---|---|---|"]
    for lv, c in doc["calibration"].items():
        lines.append(f"| {lv} | {c['findings']} | {c['right']} | {_pct(c['fraction_right'])} |")
    lines += ["", "Client-seen P99 vs what diagnose reports (per run):", "",
              "| run | client P99 before / during fault (ms) | client errors before / during | "
              "diagnose baseline / observed P99 (ms) | top finding |",
              "|---|---|---|---|---|"]
    for r in doc["runs"]:
        c, d = r["client"], r["diagnose"]
        top = r["findings"][0] if r["findings"] else None
        tops = f"{top['category']} {top['confidence']:.2f}" if top else "none"
        before = c.get("baseline_p99_ms", c.get("p99_ms"))
        errs = (f"{_pct(c.get('baseline_error_ratio'))} / {_pct(c.get('fault_error_ratio'))}" if r["faults"]
                else f"{c['errors']} of {c['requests']}")
        lines.append(f"| {r['run_id']} | {before} / {c.get('fault_p99_ms', '-')} | {errs} | "
                     f"{d.get('baseline_p99_ms')} / {d.get('observed_p99_ms')} | {tops} |")
    lines += ["", "Metrics: " + "; ".join(f"**{k}**: {v}" for k, v in doc["metrics"].items()) + ".", ""]
    return "\n".join(lines)


def update_doc(path: Path, suite: str, body: str) -> None:
    """Replace (or append) the section between this suite's markers; the rest of the file is kept."""
    begin, end = f"<!-- rca-{suite}:begin -->", f"<!-- rca-{suite}:end -->"
    text = path.read_text() if path.exists() else "# Diagnosis accuracy\n"
    block = f"{begin}\n{body}\n{end}"
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        text = head + block + rest.split(end, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    path.write_text(text)


__all__ = ["aggregate", "document", "markdown", "update_doc"]
