"""Running the diagnosis: is there an incident, then which causes explain it, ranked.

No incident (no significant, material change against a baseline) means nothing above low
confidence: a finding is a change, never a steady state. When the gate saw a weaker candidate
change (not significant or not material), the detectors still run on it and what they find is
listed as leads, capped below medium.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from infersight.analysis._context import Context
from infersight.analysis._finding import LOW_MAX, Finding
from infersight.analysis._incident import Incident
from infersight.analysis._rank import rank
from infersight.analysis._telemetry import Telemetry
from infersight.analysis.detectors import DETECTORS

log = logging.getLogger(__name__)

Progress = Callable[[str], None]

#: the most a lead (a finding without an incident) may claim: below medium
LEAD_MAX = LOW_MAX - 0.01


@dataclass
class Diagnosis:
    findings: list[Finding]
    source: str
    window: str
    route: str | None
    requests: int
    baseline_p99_ms: float
    observed_p99_ms: float
    incident: Incident | None = None
    #: P99 of what clients measured (load generator / prober CLIENT spans) and of the server
    #: spans alone, over the incident's requests that have both; None without client spans
    client_p99_ms: float | None = None
    server_p99_ms: float | None = None
    latency_source: str = "server spans"
    #: what an out-of-process prober (infersight probe) saw: {"baseline": {...}, "incident": {...}}
    probe: dict[str, Any] | None = None
    errors: dict[str, str] = field(default_factory=dict)
    context: Context | None = field(default=None, repr=False)

    @property
    def found(self) -> bool:
        return bool(self.incident and self.incident.found)

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source, "window": self.window, "route": self.route, "requests": self.requests,
            "baseline_p99_ms": round(self.baseline_p99_ms, 2), "observed_p99_ms": round(self.observed_p99_ms, 2),
            "latency_source": self.latency_source,
            "client_p99_ms": None if self.client_p99_ms is None else round(self.client_p99_ms, 2),
            "server_p99_ms": None if self.server_p99_ms is None else round(self.server_p99_ms, 2),
            "probe": self.probe,
            "incident": self.incident.to_dict() if self.incident else None,
            "findings": [f.to_dict() for f in self.findings], "detector_errors": self.errors,
        }


def _client_vs_server(ctx: Context) -> tuple[float | None, float | None, str]:
    r = ctx.requests
    scope = ctx.inc if ctx.inc.any() else r["in_window"].to_numpy(dtype=bool)
    client = r["client_ms"].to_numpy(dtype=float)
    both = scope & ~np.isnan(client)
    queued = bool((r["queued_ms"].to_numpy()[scope] > 0).any())
    source = "server spans + time queued before them" if queued else "server spans"
    if both.sum() < 20:
        return None, None, source
    source = "client spans (load generator / prober) where present, else " + source
    return (float(np.quantile(client[both], 0.99)),
            float(np.quantile(r["duration_ms"].to_numpy()[both], 0.99)), source)


def _probe(ctx: Context) -> dict[str, Any] | None:
    """Prober-seen latency in the baseline and in the incident (None without probe spans)."""
    from infersight.analysis import _sql

    inc = ctx.incident
    if inc.onset_ns is None or inc.baseline_ns is None:
        return None
    out: dict[str, Any] = {}
    for name, (lo, hi) in (("baseline", inc.baseline_ns), ("incident", (inc.onset_ns, inc.end_ns or ctx.tel.until_ns))):
        row = _sql.run(ctx.tel.con, "detectors/probe_latency", lo_ns=int(lo), hi_ns=int(hi))
        if row.empty or not int(row["requests"].iloc[0]):
            return None
        out[name] = {k: (round(float(v), 2) if k != "requests" and k != "failures" else int(v))
                     for k, v in row.iloc[0].items()}
    return out


def diagnose(tel: Telemetry, *, progress: Progress | None = None) -> Diagnosis:
    """Decide whether there is an incident; if so run every detector (a detector that fails is
    logged and reported, never fatal) and rank what they find."""
    say = progress or (lambda _msg: None)
    say("building features")
    ctx = Context.build(tel)
    found: list[Finding] = []
    errors: dict[str, str] = {}
    if ctx.found or ctx.has_candidate:
        for name, detector in DETECTORS.items():
            say(f"detector {name}")
            try:
                found.extend(detector.detect(ctx))
            except Exception as exc:  # one broken detector must not hide the others' findings
                log.warning("detector %s failed", name, exc_info=True)
                errors[name] = f"{type(exc).__name__}: {exc}"
        say("ranking")
    ranked = rank(ctx, found) if found else []
    if not ctx.found:
        # no significant, material change: what the detectors see are leads, never above low
        for f in ranked:
            f.confidence = min(f.confidence, LEAD_MAX)
    client, server, source = _client_vs_server(ctx)
    window_requests = int(ctx.requests["in_window"].sum())
    probe = _probe(ctx)
    return Diagnosis(findings=ranked, source=tel.source, probe=probe, window=ctx.window,
                     route=tel.route, requests=window_requests, baseline_p99_ms=ctx.baseline_p99,
                     observed_p99_ms=ctx.observed_p99, incident=ctx.incident, client_p99_ms=client,
                     server_p99_ms=server, latency_source=source, errors=errors, context=ctx)
