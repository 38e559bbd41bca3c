"""The Finding model: what a detector returns (DESIGN.md, "Finding").

Plain dataclasses; :meth:`Finding.to_dict` gives JSON-ready builtins (numpy scalars converted,
times as ISO-8601 UTC strings) and :meth:`Finding.from_dict` reads them back.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields, is_dataclass
from datetime import datetime, timezone
from typing import Any

from infersight.analysis._category import CATEGORIES, Category

#: confidence at or above which a finding is "medium" / "high"; below LOW_MAX it is "low"
LOW_MAX = 0.4
HIGH_MIN = 0.7


def iso(ns: int | float | None) -> str | None:
    """Nanoseconds since the epoch -> ISO-8601 UTC string (None stays None)."""
    if ns is None or (isinstance(ns, float) and math.isnan(ns)):
        return None
    return datetime.fromtimestamp(int(ns) / 1e9, tz=timezone.utc).isoformat(timespec="milliseconds")


def _plain(value: Any) -> Any:
    """numpy/pandas scalars and containers -> JSON builtins; NaN/inf -> None."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


@dataclass
class RootCause:
    entity: str
    kind: str
    state_change: str
    start: str | None = None
    end: str | None = None
    #: the service (resource service.name) the cause lives in, when known
    service: str | None = None


@dataclass
class Symptom:
    sli: str
    scope: str
    baseline: float | None
    observed: float | None


@dataclass
class Impact:
    share_of_requests: float
    window: str


@dataclass
class Evidence:
    kind: str
    value: Any
    baseline: Any = None
    exemplar_trace_ids: list[str] = field(default_factory=list)


@dataclass
class Finding:
    category: str
    title: str
    root_cause: RootCause
    symptom: Symptom
    impact: Impact
    effect_size: float
    confidence: float
    evidence: list[Evidence] = field(default_factory=list)
    counterfactual: dict[str, Any] = field(default_factory=dict)
    remediation: list[str] = field(default_factory=list)
    #: causal chain, root first (job -> allocations -> GC -> P99), when findings were merged
    chain: list[str] = field(default_factory=list)
    #: categories of findings folded into this one
    merged: list[str] = field(default_factory=list)
    #: share of the P99 excess (time above the baseline P99) this cause explains, 0..1
    excess_share: float = 0.0
    #: when the incident began (ISO) and the baseline window it was compared with ("start/end")
    onset: str | None = None
    baseline_window: str | None = None
    #: the mechanism whose per-request time carries the damage (a decomposition part such as
    #: "gc", "loop", "pool:db", "dep:db sqlite", "self:api"), for ranking and chains
    mechanism: str = field(default="", repr=False, compare=False)
    #: requests (rows of the diagnosis' request table) this cause was active for
    active: Any = field(default=None, repr=False, compare=False)
    #: the calibration features confidence was computed from (not part of the JSON output)
    features: dict[str, float] = field(default_factory=dict, repr=False, compare=False)
    #: when the cause was running, as (start_ns, end_ns) intervals (a job's runs): chains and the
    #: report's overlay read it (not part of the JSON output)
    windows: list[tuple[int, int]] = field(default_factory=list, repr=False, compare=False)
    #: data for the HTML report's evidence charts only; ranking never reads it (not in the JSON)
    plot: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.category not in CATEGORIES:
            raise ValueError(f"unknown finding category {self.category!r}")
        self.category = str(Category(self.category).value)
        self.confidence = float(min(1.0, max(0.0, self.confidence)))

    @property
    def level(self) -> str:
        """``"low"``, ``"medium"`` or ``"high"`` confidence."""
        if self.confidence >= HIGH_MIN:
            return "high"
        return "medium" if self.confidence >= LOW_MAX else "low"

    @property
    def score(self) -> float:
        """Ranking key: impact (share of the P99 excess explained) x confidence."""
        return float(self.excess_share * self.confidence)

    def exemplars(self) -> list[str]:
        seen: dict[str, None] = {}
        for ev in self.evidence:
            for t in ev.exemplar_trace_ids:
                seen.setdefault(t, None)
        return list(seen)

    def to_dict(self) -> dict[str, Any]:
        skip = ("plot", "mechanism", "active", "features", "windows")
        d = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in skip}
        d = {k: asdict(v) if is_dataclass(v) and not isinstance(v, type) else v for k, v in d.items()}
        d["evidence"] = [asdict(e) for e in self.evidence]
        # what the confidence was computed from, before calibration (docs/accuracy.md)
        d["confidence_inputs"] = {k: round(float(v), 4) for k, v in self.features.items()}
        d["confidence_level"] = self.level
        d["score"] = self.score
        return dict(_plain(d))

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Finding:
        return cls(
            category=d["category"], title=d["title"], root_cause=RootCause(**d["root_cause"]),
            symptom=Symptom(**d["symptom"]), impact=Impact(**d["impact"]),
            effect_size=d["effect_size"], confidence=d["confidence"],
            evidence=[Evidence(**e) for e in d.get("evidence", [])],
            counterfactual=d.get("counterfactual", {}), remediation=list(d.get("remediation", [])),
            chain=list(d.get("chain", [])), merged=list(d.get("merged", [])),
            excess_share=d.get("excess_share", 0.0), onset=d.get("onset"),
            baseline_window=d.get("baseline_window"), features=dict(d.get("confidence_inputs") or {}),
        )


__all__ = ["CATEGORIES", "Category", "Evidence", "Finding", "Impact", "RootCause", "Symptom", "iso"]
