"""Scoring one recorded run: ``infersight.analysis.diagnose`` over its telemetry vs its labels.

A finding is RIGHT for an injected fault when its category is one of the fault's accepted
categories AND its entity matches: ``root_cause.service or root_cause.entity``, normalised
(lower case, only [a-z0-9]), equals the fault's service, contains the fault's entity, or is
contained in it (>= 4 characters). Any finding on a healthy run is wrong.

Per fault: ``rank`` = first finding with an accepted category (AC@1: rank 1, AC@3: rank <= 3);
``entity_ok`` = that finding's entity matches; ``rank_right`` = first RIGHT finding (strict
AC@k). Two-fault runs score each injected fault on its own, against the same ranked list.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

LOW_MAX, HIGH_MIN = 0.4, 0.7  # infersight's confidence levels (low < 0.4 <= medium < 0.7 <= high)


def level(conf: float) -> str:
    return "high" if conf >= HIGH_MIN else "medium" if conf >= LOW_MAX else "low"


def norm(s: Any) -> str:
    return re.sub(r"[^a-z0-9]+", "", str(s or "").lower())


def entity_of(f: dict[str, Any]) -> str:
    rc = f.get("root_cause") or {}
    return str(rc.get("service") or rc.get("entity") or "")


def entity_matches(found: str, exp: dict[str, Any]) -> bool:
    v, ent, svc = norm(found), norm(exp.get("entity")), norm(exp.get("service"))
    if not v:
        return False
    return v == svc or (bool(ent) and ent in v) or (len(v) >= 4 and v in ent)


def is_right(f: dict[str, Any], exp: dict[str, Any]) -> bool:
    return f["category"] in exp["category"] and entity_matches(entity_of(f), exp)


def _p99(x: pd.Series) -> float | None:
    return round(float(np.percentile(x, 99)), 1) if len(x) >= 20 else None


def _p50(x: pd.Series) -> float | None:
    return round(float(x.median()), 1) if len(x) >= 5 else None


def client_truth(folder: Path, labels: dict[str, Any]) -> dict[str, Any]:
    c = pd.read_parquet(folder / "client.parquet")
    t0 = labels["t0_epoch"] * 1e9
    out: dict[str, Any] = {"requests": len(c), "errors": int(c["error"].notna().sum()),
                           "p50_ms": round(float(c["latency_ms"].median()), 1) if len(c) else None,
                           "p99_ms": _p99(c["latency_ms"])}
    if labels["faults"]:
        on = min(f["start_s"] for f in labels["faults"]) * 1e9 + t0
        off = max(f["start_s"] + f["duration_s"] for f in labels["faults"]) * 1e9 + t0
        before, during = c[c["scheduled_ns"] < on], c[(c["scheduled_ns"] >= on) & (c["scheduled_ns"] < off)]
        out |= {"baseline_p99_ms": _p99(before["latency_ms"]), "fault_p99_ms": _p99(during["latency_ms"]),
                "baseline_p50_ms": _p50(before["latency_ms"]), "fault_p50_ms": _p50(during["latency_ms"]),
                "baseline_error_ratio": round(float(before["error"].notna().mean()), 4) if len(before) else None,
                "fault_error_ratio": round(float(during["error"].notna().mean()), 4) if len(during) else None}
    return out


def _brief(f: dict[str, Any]) -> dict[str, Any]:
    rc = f.get("root_cause") or {}
    return {"category": f["category"], "confidence": round(float(f["confidence"]), 3),
            "level": level(float(f["confidence"])), "entity": rc.get("entity"), "service": rc.get("service"),
            "title": str(f.get("title", ""))[:160], "inputs": f.get("confidence_inputs") or {}}


def score_fault(findings: list[dict[str, Any]], exp: dict[str, Any]) -> dict[str, Any]:
    rank = next((i + 1 for i, f in enumerate(findings) if f["category"] in exp["category"]), None)
    right = next((i + 1 for i, f in enumerate(findings) if is_right(f, exp)), None)
    at = right or rank
    hit = findings[at - 1] if at else None
    return {"family": exp["family"], "target": exp.get("target"), "accepted": exp["category"],
            "entity": exp.get("entity"), "service": exp.get("service"), "params": exp.get("params", {}),
            "rank": rank, "ac1": rank == 1, "ac3": rank is not None and rank <= 3,
            "entity_ok": rank is not None and entity_matches(entity_of(findings[rank - 1]), exp),
            "rank_right": right, "ac1_right": right == 1, "ac3_right": right is not None and right <= 3,
            "confidence": round(float(hit["confidence"]), 3) if hit else None}


def diagnose_run(source: Path) -> tuple[dict[str, Any], float]:
    from infersight.analysis import connect, diagnose

    t = time.perf_counter()
    with connect(source) as tel:
        result = diagnose(tel)
    return result.to_dict(), time.perf_counter() - t


def score_run(folder: Path) -> dict[str, Any]:
    labels = json.loads((folder / "labels.json").read_text())
    source = folder / "telemetry" if (folder / "telemetry").is_dir() else folder / "telemetry.duckdb"
    row: dict[str, Any] = {"run_id": labels["run_id"], "workload": labels["workload"], "family": labels["family"],
                           "variant": labels["variant"], "seed": labels["seed"], "healthy": labels["healthy"],
                           "load": labels["load"], "client": client_truth(folder, labels)}
    try:
        diag, seconds = diagnose_run(source)
    except Exception as exc:  # a crash is a result too: no findings, the error recorded
        diag, seconds = {"findings": [], "error": f"{type(exc).__name__}: {exc}"}, 0.0
    findings = [f for f in diag.get("findings", [])]
    row["diagnose"] = {"seconds": round(seconds, 2), "requests": diag.get("requests"),
                       "observed_p99_ms": diag.get("observed_p99_ms"), "baseline_p99_ms": diag.get("baseline_p99_ms"),
                       "incident": diag.get("incident"), "error": diag.get("error"),
                       "detector_errors": diag.get("detector_errors") or {}}
    row["findings"] = [_brief(f) | {"right": any(is_right(f, e) for e in labels["faults"])} for f in findings]
    row["faults"] = [score_fault(findings, e) for e in labels["faults"]]
    max_conf = max((float(f["confidence"]) for f in findings), default=0.0)
    row["max_confidence"] = round(max_conf, 3)
    row["false_alarm"] = labels["healthy"] and max_conf >= LOW_MAX
    return row


__all__ = ["entity_matches", "is_right", "level", "norm", "score_fault", "score_run"]
