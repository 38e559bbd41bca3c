"""Fit infersight's confidence calibration on scored corpus runs, and check it honestly.

    python -m benchmarks.rca.calibrate benchmarks/results/rca_full.json [--write]

Every finding of every scored run (healthy runs included: any finding there is wrong) is a pair
(raw score, right?). The map from raw score to confidence is isotonic (pool-adjacent-violators on
"right" sorted by raw score) with Laplace-smoothed blocks (``(right + 1) / (n + 2)``, so a few
lucky findings never become certainty), then put on infersight's scale (``ANCHORS``: a finding
at high confidence, >= 0.7, is of a kind that was right >= 90 % of the time; medium >= 50 %). ``--write`` stores it in analysis/calibration.json.

The reliability table printed (and written to docs/accuracy.md between the calibration
markers) is out-of-sample: each workload's findings are calibrated by a map fitted on the other
workloads only (leave-one-workload-out), then binned by level. Levels follow
``infersight.analysis._finding``: low < LOW_MAX <= medium < HIGH_MIN <= high.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.rca._procs import ROOT

CALIBRATION = ROOT / "analysis" / "calibration.json"
DOC = ROOT / "docs" / "accuracy.md"


def pav(x: np.ndarray, y: np.ndarray) -> list[tuple[float, float, int, int]]:
    """Isotonic blocks of y (0/1) over sorted x: (x_lo, x_hi, right, n) per block."""
    order = np.argsort(x, kind="stable")
    xs, ys = x[order], y[order]
    blocks: list[list[float]] = []  # [x_lo, x_hi, sum, n]
    for xi, yi in zip(xs, ys, strict=True):
        blocks.append([float(xi), float(xi), float(yi), 1.0])
        while len(blocks) > 1 and blocks[-2][2] / blocks[-2][3] >= blocks[-1][2] / blocks[-1][3]:
            b = blocks.pop()
            blocks[-1][1] = b[1]
            blocks[-1][2] += b[2]
            blocks[-1][3] += b[3]
    return [(b[0], b[1], int(b[2]), int(b[3])) for b in blocks]


#: how often a finding must be right to reach a level, and the confidence that level starts at:
#: confidence is a monotone map of "fraction right on the corpus" anchored so that the levels mean
#: something - high (>= 0.7) is right >= 90 % of the time, medium (>= 0.4) >= 50 %
ANCHORS = ((0.0, 0.0), (0.5, 0.4), (0.9, 0.7), (1.0, 1.0))


def to_confidence(p: float) -> float:
    """Fraction right -> confidence on infersight's scale (ANCHORS)."""
    xs, ys = zip(*ANCHORS, strict=True)
    return float(np.interp(p, xs, ys))


def knots(x: np.ndarray, y: np.ndarray) -> list[list[float]]:
    """Piecewise-linear monotone knots (raw, confidence) from the smoothed isotonic blocks."""
    if len(x) == 0:
        return [[0.0, 0.0], [1.0, 1.0]]
    out: list[list[float]] = [[0.0, 0.0]]
    for lo, hi, right, n in pav(x, y):
        p = (right + 1) / (n + 2)
        out.append([round((lo + hi) / 2, 4), round(to_confidence(p), 4)])
    out.append([1.0, out[-1][1]])
    ys = np.maximum.accumulate([k[1] for k in out])
    xs = [k[0] for k in out]
    merged: list[list[float]] = []
    for xv, yv in zip(xs, ys, strict=True):
        if merged and xv <= merged[-1][0]:
            merged[-1][1] = max(merged[-1][1], float(yv))
        else:
            merged.append([float(xv), float(yv)])
    return merged


def apply(k: list[list[float]], raw: np.ndarray) -> np.ndarray:
    return np.interp(raw, [a for a, _ in k], [b for _, b in k])


def findings(doc: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for run in doc["runs"]:
        for f in run["findings"]:
            raw = (f.get("inputs") or {}).get("raw")
            if raw is not None:
                out.append({"workload": run["workload"], "raw": float(raw), "right": bool(f["right"]),
                            "category": f["category"], "healthy": run["healthy"]})
    return out


def reliability(rows: list[dict[str, Any]], low_max: float, high_min: float) -> dict[str, Any]:
    """Leave-one-workload-out calibrated confidence, binned by level: fraction right."""
    by_w: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        by_w[r["workload"]].append(r)
    bins: dict[str, list[bool]] = {"low": [], "medium": [], "high": []}
    for w, held in by_w.items():
        train = [r for r in rows if r["workload"] != w]
        k = knots(np.array([r["raw"] for r in train]), np.array([r["right"] for r in train], dtype=float))
        conf = apply(k, np.array([r["raw"] for r in held]))
        for r, c in zip(held, conf, strict=True):
            lv = "high" if c >= high_min else "medium" if c >= low_max else "low"
            bins[lv].append(r["right"])
    table = {lv: {"findings": len(v), "right": int(sum(v)),
                  "fraction_right": round(sum(v) / len(v), 3) if v else None} for lv, v in bins.items()}
    return {"method": "leave-one-workload-out", "levels": table}


def main(argv: list[str] | None = None) -> int:
    from infersight.analysis._finding import HIGH_MIN, LOW_MAX

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("results", type=Path, nargs="+", help="scored corpus JSON (benchmarks/results/rca_*.json)")
    ap.add_argument("--write", action="store_true", help="store the fitted map in analysis/calibration.json")
    args = ap.parse_args(argv)
    rows = [r for p in args.results for r in findings(json.loads(p.read_text()))]
    x = np.array([r["raw"] for r in rows])
    y = np.array([r["right"] for r in rows], dtype=float)
    k = knots(x, y)
    rel = reliability(rows, LOW_MAX, HIGH_MIN)
    print(f"{len(rows)} findings ({int(y.sum())} right) from {', '.join(str(p) for p in args.results)}")
    print("knots (raw -> confidence):", k)
    for lv, c in rel["levels"].items():
        print(f"  {lv:6s} {c['findings']:4d} findings, right {c['fraction_right']}")
    if args.write:
        CALIBRATION.write_text(json.dumps({
            "fitted_on": [str(p) for p in args.results], "findings": len(rows), "right": int(y.sum()),
            "fitted_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "method": "isotonic (PAV), Laplace-smoothed blocks", "out_of_sample": rel,
            "knots": k}, indent=2) + "\n")
        print(f"wrote {CALIBRATION}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
