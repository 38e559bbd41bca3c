"""Running every detector over a telemetry source and ranking what they find."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from infersight.analysis._context import Context
from infersight.analysis._finding import Finding
from infersight.analysis._rank import rank
from infersight.analysis._telemetry import Telemetry
from infersight.analysis.detectors import DETECTORS

log = logging.getLogger(__name__)

Progress = Callable[[str], None]


@dataclass
class Diagnosis:
    findings: list[Finding]
    source: str
    window: str
    route: str | None
    requests: int
    baseline_p99_ms: float
    observed_p99_ms: float
    errors: dict[str, str] = field(default_factory=dict)
    context: Context | None = field(default=None, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source, "window": self.window, "route": self.route, "requests": self.requests,
            "baseline_p99_ms": round(self.baseline_p99_ms, 2), "observed_p99_ms": round(self.observed_p99_ms, 2),
            "findings": [f.to_dict() for f in self.findings], "detector_errors": self.errors,
        }


def diagnose(tel: Telemetry, *, progress: Progress | None = None) -> Diagnosis:
    """Run every detector; a detector that fails is logged and reported, never fatal."""
    say = progress or (lambda _msg: None)
    say("building features")
    ctx = Context.build(tel)
    found: list[Finding] = []
    errors: dict[str, str] = {}
    for name, detector in DETECTORS.items():
        say(f"detector {name}")
        try:
            found.extend(detector(ctx))
        except Exception as exc:  # one broken detector must not hide the others' findings
            log.warning("detector %s failed", name, exc_info=True)
            errors[name] = f"{type(exc).__name__}: {exc}"
    # no symptom, no finding: when the window's P99 is close to its baseline, every latency
    # finding is scaled down (gpu_idle is about cost, not latency)
    symptom = ctx.symptom_strength()
    for f in found:
        if f.category != "gpu_idle":
            f.confidence = f.confidence * symptom
    say("ranking")
    return Diagnosis(findings=rank(ctx, found), source=tel.source, window=ctx.window, route=tel.route,
                     requests=len(ctx.requests), baseline_p99_ms=ctx.baseline_p99,
                     observed_p99_ms=ctx.observed_p99, errors=errors, context=ctx)
