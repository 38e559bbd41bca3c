"""Result JSON and the Nezha section of docs/accuracy.md."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

BEGIN, END = "<!-- nezha-2023-01-29:begin -->", "<!-- nezha-2023-01-29:end -->"


def merge_results(path: Path, new: dict[str, Any]) -> dict[str, Any]:
    """``new`` over the existing file: methods not re-run this time keep their last results."""
    old: dict[str, Any] = {}
    if path.is_file():
        try:
            old = json.loads(path.read_text())
        except ValueError:
            old = {}
    methods = {**old.get("methods", {}), **new.get("methods", {})}
    return {**old, **new, "methods": methods}


def _pct(x: float) -> str:
    return f"{100 * x:.0f} %"


def _top(case: dict[str, Any], n: int = 3) -> str:
    parts = []
    for r in case.get("top5", [])[:n]:
        svc = str(r["service"]).removeprefix("ts-")
        extra = f" {r['category']} {r['confidence']:.2f}" if "confidence" in r else f" +{r.get('rise_ms', 0):.0f} ms"
        parts.append(svc + extra)
    return "; ".join(parts) or "(nothing)"


def markdown(results: dict[str, Any]) -> str:
    methods = results.get("methods", {})
    lines = [BEGIN, "## Nezha Train-Ticket, 2023-01-29 (public data, development set)", "",
             f"Produced by `{results.get('command', '')}`. {results.get('dataset', '')}", "",
             results.get("windows_note", ""), "",
             "| method | cases | AC@1 | AC@3 | Avg@5 | fault-free minute: findings ≥ medium / high "
             "| pre-injection windows with a finding ≥ medium / a high one |",
             "|---|---|---|---|---|---|---|"]
    for name, m in methods.items():
        t = m["totals"]
        ff = m.get("fault_free") or {}
        minute = ff.get("minute")
        minute_txt = f"{minute['medium_or_high']} / {minute['high']}" if minute else "n/a"
        pre = ff.get("pre_windows")
        pre_txt = (f"{pre['with_medium_or_high']} / {pre['with_high']} of {pre['windows']}" if pre else "n/a")
        lines.append(f"| {name} | {t['cases']} | {_pct(t['AC@1'])} | {_pct(t['AC@3'])} | {_pct(t['Avg@5'])} "
                     f"| {minute_txt} | {pre_txt} |")
    for name, m in methods.items():
        lines += ["", f"<details><summary>{name}: per case</summary>", "",
                  "| case | fault | expected service | rank | top 3 |", "|---|---|---|---|---|"]
        for c in m.get("cases", []):
            rank = c.get("rank") or "-"
            lines.append(f"| {c['case']} | {c['fault_type']} | {c['expected_service']} | {rank} | {_top(c)} |")
        lines += ["", "</details>"]
    lines.append(END)
    return "\n".join(lines) + "\n"


def write_markdown(doc: Path, results: dict[str, Any]) -> None:
    """Replace the Nezha section of ``doc`` (or append it), leaving the rest as it is."""
    text = doc.read_text() if doc.is_file() else "# Diagnosis accuracy\n"
    section = markdown(results)
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        tail = rest.split(END, 1)[1].lstrip("\n")
        text = head + section + ("\n" + tail if tail else "")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    doc.write_text(text)


__all__ = ["markdown", "merge_results", "write_markdown"]
