#!/usr/bin/env python3
"""Generate the Grafana dashboards (grafana/*.json) with grafana-foundation-sdk.

    python dashboards/build.py            # (re)write grafana/*.json
    python dashboards/build.py --check    # exit 1 if the committed JSON is stale, or if any
                                          # query names a metric that is neither in the
                                          # instrument catalog, nor a recording rule in
                                          # rules/*.yml, nor allowlisted in external_metrics.yml

Boards live one per module (_overview, _runtime, _gpu, _incident, _vllm); _kit has the helpers.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import _gpu  # noqa: E402
import _incident  # noqa: E402
import _overview  # noqa: E402
import _runtime  # noqa: E402
import _vllm  # noqa: E402
import yaml  # noqa: E402
from _promql import label_values_metric, metric_names  # noqa: E402
from grafana_foundation_sdk.cog.encoder import JSONEncoder  # noqa: E402

OUT = HERE / "grafana"
RULES = HERE / "rules"
EXTERNAL = HERE / "external_metrics.yml"
BOARDS = (_overview, _runtime, _gpu, _incident, _vllm)
ANNOTATION_STEP = "15s"


def _finish(uid: str, board: dict[str, Any]) -> dict[str, Any]:
    """Fill in what the SDK leaves out: stable panel ids, and the Prometheus-specific fields of
    annotation queries (step, title) that its AnnotationQuery model has no setters for."""
    for i, panel in enumerate(board.get("panels", []), start=1):
        panel["id"] = i
    titles = {name: t for name, (_e, _c, t) in getattr(_incident, "ANNOTATIONS", {}).items()}
    anns = board.get("annotations", {}).get("list", [])
    for ann in anns:
        ann["step"] = ANNOTATION_STEP
        ann["titleFormat"] = titles.get(ann.get("name", ""), ann.get("name", ""))
        ann["useValueForTime"] = False
    return board


def render() -> dict[str, str]:
    """uid -> JSON text of every board, exactly as committed."""
    out: dict[str, str] = {}
    for mod in BOARDS:
        raw = json.loads(JSONEncoder(sort_keys=True).encode(mod.build().build()))
        out[mod.UID] = json.dumps(_finish(mod.UID, raw), indent=2, sort_keys=True) + "\n"
    return out


def iter_queries(board: dict[str, Any]) -> Iterator[tuple[str, str, str]]:
    """(where, kind, expression) for every PromQL text in a board: panel targets, annotations,
    template-variable queries."""
    for panel in board.get("panels", []):
        for t in panel.get("targets", []):
            if t.get("expr"):
                yield f"panel '{panel.get('title')}' {t.get('refId')}", "expr", t["expr"]
    for ann in board.get("annotations", {}).get("list", []):
        if ann.get("expr"):
            yield f"annotation '{ann.get('name')}'", "expr", ann["expr"]
    for var in board.get("templating", {}).get("list", []):
        if var.get("type") == "query":
            yield f"variable '{var.get('name')}'", "label_values", str(var.get("query", ""))


def load_rules() -> list[dict[str, Any]]:
    rules: list[dict[str, Any]] = []
    for path in sorted(RULES.glob("*.yml")):
        doc = yaml.safe_load(path.read_text())
        for group in doc.get("groups", []):
            rules.extend(group.get("rules", []))
    return rules


def _series(family: str, kind: str) -> set[str]:
    if kind == "counter":
        return {f"{family}_total", f"{family}_created"}
    if kind == "histogram":
        return {f"{family}{s}" for s in ("_bucket", "_sum", "_count", "_created")}
    if kind == "info":
        return {f"{family}_info"}
    return {family}


def known_series() -> tuple[set[str], set[str], set[str]]:
    """(catalog series, external allowlisted series, recording-rule names)."""
    from infersight.instrument.catalog import all_series_names

    ext: set[str] = set()
    for group in yaml.safe_load(EXTERNAL.read_text()).values():
        for fam, kind in group["families"].items():
            ext |= _series(fam, kind)
    recorded = {r["record"] for r in load_rules() if "record" in r}
    return set(all_series_names()), ext, recorded


def check_names(boards: dict[str, str]) -> list[str]:
    catalog, ext, recorded = known_series()
    errors: list[str] = []
    allowed = catalog | ext | recorded
    for uid, text in boards.items():
        for where, kind, expr in iter_queries(json.loads(text)):
            names = label_values_metric(expr) if kind == "label_values" else metric_names(expr)
            if not names:
                errors.append(f"{uid}: {where}: no metric name found in {expr!r}")
            for n in sorted(names - allowed):
                errors.append(f"{uid}: {where}: unknown metric {n!r}")
    for rule in load_rules():
        name = rule.get("record") or rule.get("alert")
        for n in sorted(metric_names(str(rule.get("expr", ""))) - allowed):
            errors.append(f"rules: {name}: unknown metric {n!r}")
    return errors


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true", help="fail on stale JSON or unknown metric names")
    ap.add_argument("--out", type=Path, default=OUT, help="output folder (default: dashboards/grafana)")
    args = ap.parse_args(argv)
    boards = render()
    errors = check_names(boards)
    if args.check:
        committed = {p.stem: p.read_text() for p in args.out.glob("*.json")} if args.out.is_dir() else {}
        for uid, text in boards.items():
            if committed.get(uid) != text:
                errors.append(f"{args.out / (uid + '.json')} is stale: run python dashboards/build.py")
        for uid in sorted(set(committed) - set(boards)):
            errors.append(f"{args.out / (uid + '.json')} is not generated by build.py: delete it")
        for e in errors:
            print(f"error: {e}", file=sys.stderr)
        if not errors:
            print(f"ok: {len(boards)} dashboards up to date, every metric name known")
        return 1 if errors else 0
    if errors:
        for e in errors:
            print(f"error: {e}", file=sys.stderr)
        print("not writing: fix the names above first", file=sys.stderr)
        return 1
    args.out.mkdir(parents=True, exist_ok=True)
    for uid, text in boards.items():
        (args.out / f"{uid}.json").write_text(text)
    print(f"wrote {len(boards)} dashboards to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
