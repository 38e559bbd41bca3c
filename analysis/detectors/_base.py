"""What every detector shares: the ``Detector`` protocol and one way to build a Finding.

A detector is one module with a frozen thresholds dataclass and an object that satisfies
:class:`Detector`. :func:`finding` fills in what every finding must carry the same way: the
incident's onset and baseline, before/after numbers of the request types it hurt, the share of
the P99 excess it explains, a counterfactual P99 that is never above the observed one, and a
confidence from :mod:`infersight.analysis._calibration`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from infersight.analysis._calibration import calibrated
from infersight.analysis._category import Category
from infersight.analysis._context import Context
from infersight.analysis._finding import Evidence, Finding, Impact, RootCause, Symptom, iso
from infersight.analysis._stats import Test, saturate, significance


class Detector(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def categories(self) -> tuple[Category, ...]: ...

    def detect(self, ctx: Context) -> list[Finding]: ...


@dataclass(frozen=True)
class Cause:
    """What a detector found, before it becomes a Finding."""

    category: Category
    entity: str
    kind: str
    state_change: str
    title: str
    mechanism: str
    active: np.ndarray  # requests (rows of ctx.requests) the cause was active for
    share: float  # of the P99 excess
    test: Test | None
    support: float = 1.0  # 0..1: corroborating evidence (mechanism measured, periodicity, ...)
    service: str | None = None
    start_ns: int | None = None
    end_ns: int | None = None


def raw_features(ctx: Context, cause: Cause) -> dict[str, float]:
    """The numbers confidence is computed from (and calibrated on)."""
    p = cause.test.p_value if cause.test else 1.0
    eff = cause.test.effect if cause.test else 0.0
    gate = ctx.incident.scan_p_value if ctx.incident.scan_p_value is not None else 1.0
    return {
        "share": float(cause.share),
        "significance": significance(p),
        "effect": float(eff),
        "support": float(cause.support),
        "incident_significance": significance(gate, 1e-12),
    }


def raw_confidence(f: dict[str, float]) -> float:
    """Uncalibrated 0..1 score: every factor must be there (geometric mean of saturating terms)."""
    terms = (saturate(f["share"], 0.5), f["significance"], saturate(f["effect"], 0.5), min(1.0, max(0.0, f["support"])),
             max(0.25, f["incident_significance"]))
    if min(terms) <= 0:
        return 0.0
    return float(np.prod(terms) ** (1.0 / len(terms)))


def confidence(ctx: Context, p_value: float, share: float, effect: float, *,
               support: float = 1.0) -> tuple[float, dict[str, float]]:
    """Calibrated confidence and its inputs, from the same factors :func:`finding` uses, for
    detectors that build their own Finding."""
    gate = ctx.incident.scan_p_value if ctx.incident.scan_p_value is not None else 1.0
    feats = {"share": share, "significance": significance(p_value), "effect": effect, "support": support,
             "incident_significance": significance(gate, 1e-12)}
    raw = raw_confidence(feats)
    return calibrated(raw), {**feats, "raw": raw}


def finding(ctx: Context, cause: Cause, *, evidence: Sequence[Evidence], remediation: Sequence[str],
            chain: Sequence[str], counterfactual_ms: np.ndarray | None = None) -> Finding:
    """The Finding for ``cause``. ``counterfactual_ms``: per request, the milliseconds fixing the
    cause would remove (default: its share of each affected request's excess)."""
    active = np.asarray(cause.active, dtype=bool)
    feats = raw_features(ctx, cause)
    raw = raw_confidence(feats)
    inc = ctx.incident
    lat = ctx.requests["latency_ms"].to_numpy()
    excess = ctx.requests["excess_ms"].to_numpy()
    removed = np.minimum(excess, np.clip(counterfactual_ms, 0, None)) if counterfactual_ms is not None \
        else excess * cause.share
    fixed = lat - removed
    observed = ctx.p99(ctx.inc) if ctx.inc.any() else float("nan")
    if_fixed = float(np.quantile(fixed[ctx.inc], 0.99)) if ctx.inc.any() else float("nan")
    hurt = active & ctx.inc
    tests = [Evidence(f"{cause.test.name}_p_value", cause.test.p_value, None)] if cause.test else []
    return Finding(
        category=cause.category.value, title=cause.title,
        root_cause=RootCause(entity=cause.entity, kind=cause.kind, state_change=cause.state_change,
                             start=iso(cause.start_ns if cause.start_ns is not None else inc.onset_ns),
                             end=iso(cause.end_ns if cause.end_ns is not None else inc.end_ns),
                             service=cause.service),
        symptom=Symptom(sli="latency_p99_ms" if inc.sli == "latency" else "error_ratio", scope=ctx.scope,
                        baseline=_r(inc.p99_baseline_ms, 1) if inc.sli == "latency" else _r(inc.error_ratio_baseline, 4),
                        observed=_r(inc.p99_observed_ms, 1) if inc.sli == "latency" else _r(inc.error_ratio_observed, 4)),
        impact=Impact(share_of_requests=float(hurt.sum() / max(1, int(ctx.inc.sum()))), window=ctx.window),
        effect_size=round(feats["effect"], 3), confidence=calibrated(raw),
        evidence=[*evidence, *tests],
        counterfactual={"sli_if_fixed": _r(min(if_fixed, observed), 1),
                        "p99_excess_removed_share": round(cause.share, 3)},
        remediation=list(remediation), chain=list(chain), excess_share=float(min(1.0, max(0.0, cause.share))),
        onset=iso(inc.onset_ns),
        baseline_window=f"{iso(inc.baseline_ns[0])}/{iso(inc.baseline_ns[1])}" if inc.baseline_ns else None,
        mechanism=cause.mechanism, active=active, features={**feats, "raw": raw},
    )


def _r(v: float | None, nd: int) -> float | None:
    return None if v is None or v != v else round(float(v), nd)


__all__ = ["Cause", "Detector", "confidence", "finding", "raw_confidence", "raw_features"]
