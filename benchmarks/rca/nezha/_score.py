"""Service-level scoring: AC@k, Avg@k, and findings -> ranked services.

AC@k: the share of cases whose expected service is among the first k distinct services of the ranking.
Avg@k: the mean of AC@1..AC@k (Nezha and the RCA literature report Avg@5).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from benchmarks.rca.nezha._cases import service_of

LOW_MAX, HIGH_MIN = 0.4, 0.7  # infersight's confidence levels (used when a finding has no level field)
_LEVELS = {"low": 0, "medium": 1, "high": 2}
_POD = re.compile(r"^(ts-[a-z0-9-]+?)-[0-9a-f]{6,10}-[0-9a-z]{5}$")


def normalise(entity: str, services: Iterable[str] = ()) -> str:
    """A finding's entity -> a service name: pod/instance names lose their suffixes; a
    ``service route`` / ``service:port`` / ``service/op`` entity keeps the service part."""
    token = entity.strip().split(" ", 1)[0].split("/", 1)[0].split(":", 1)[0]
    m = _POD.match(token)
    if m:
        return m.group(1)
    known = set(services)
    if token in known:
        return token
    return service_of(token) if service_of(token) in known else token


def finding_service(finding: Mapping[str, Any], services: Iterable[str] = ()) -> str:
    rc = finding.get("root_cause") or {}
    return normalise(str(rc.get("service") or rc.get("entity") or ""), services)


def level(finding: Mapping[str, Any]) -> str:
    if finding.get("confidence_level") in _LEVELS:
        return str(finding["confidence_level"])
    c = float(finding.get("confidence", 0.0))
    return "high" if c >= HIGH_MIN else "medium" if c >= LOW_MAX else "low"


def ranked_services(findings: Sequence[Mapping[str, Any]], services: Iterable[str] = ()) -> list[dict[str, Any]]:
    """One entry per distinct service, in the findings' order (the first finding naming it)."""
    known = list(services)
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for f in findings:
        svc = finding_service(f, known)
        if svc and svc not in seen:
            seen.add(svc)
            out.append({"service": svc, "category": f.get("category"), "entity": (f.get("root_cause") or {}).get("entity"),
                        "confidence": round(float(f.get("confidence", 0.0)), 3), "level": level(f)})
    return out


def rank_of(expected: str, ranking: Sequence[str]) -> int | None:
    """1-based rank of ``expected`` among the distinct services of ``ranking``; None when absent."""
    seen: list[str] = []
    for s in ranking:
        if s not in seen:
            seen.append(s)
            if s == expected:
                return len(seen)
    return None


def ac_at(ranks: Sequence[int | None], k: int) -> float:
    if not ranks:
        return 0.0
    return sum(1 for r in ranks if r is not None and r <= k) / len(ranks)


def avg_at(ranks: Sequence[int | None], k: int = 5) -> float:
    return sum(ac_at(ranks, i) for i in range(1, k + 1)) / k


def alarm_counts(findings: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    """Findings at medium or above, and at high, in one fault-free window."""
    levels = [level(f) for f in findings]
    return {"findings": len(levels), "medium_or_high": sum(lv in ("medium", "high") for lv in levels),
            "high": sum(lv == "high" for lv in levels)}


def totals(ranks: Sequence[int | None]) -> dict[str, float | int]:
    return {"cases": len(ranks), "AC@1": round(ac_at(ranks, 1), 4), "AC@3": round(ac_at(ranks, 3), 4),
            "AC@5": round(ac_at(ranks, 5), 4), "Avg@5": round(avg_at(ranks, 5), 4)}


__all__ = ["ac_at", "alarm_counts", "avg_at", "finding_service", "level", "normalise", "rank_of",
           "ranked_services", "totals"]
