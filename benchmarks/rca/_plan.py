"""What one run does, drawn from its seed: load level and swings, fault variant, timing, extras.

Every run is reproducible from ``(workload, family, variant)``: the seed is a CRC of those, and
every random choice (rate, onset, duration, fault parameters, healthy extras) comes from a
``random.Random(seed)``. The quick suite is variant 1 of every family + 3 healthy runs per
workload; the full suite is variants 1-3 + 10 healthy runs.
"""

from __future__ import annotations

import random
import zlib
from dataclasses import asdict, dataclass, field
from types import ModuleType
from typing import Any

from benchmarks.rca import workloads

RUNNER_FAMILIES = ("cpu_contention", "two_faults")
SUITES = {"quick": (1, 3), "full": (3, 10)}  # (variants per fault family, healthy runs) per workload


@dataclass
class RunPlan:
    run_id: str
    workload: str
    family: str
    variant: int
    seed: int
    rate: float
    duration_s: float
    swing: dict[str, Any] = field(default_factory=dict)
    faults: list[dict[str, Any]] = field(default_factory=list)  # RCA_FAULTS (workload-level)
    hogs: list[dict[str, Any]] = field(default_factory=list)  # runner-level CPU hogs
    pin: dict[str, int] = field(default_factory=dict)  # service -> CPU it is pinned to
    healthy: dict[str, Any] = field(default_factory=dict)  # RCA_HEALTHY
    expected: list[dict[str, Any]] = field(default_factory=list)
    compact: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def seed_of(workload: str, family: str, variant: int) -> int:
    return zlib.crc32(f"{workload}/{family}/{variant}".encode())


def _draw(rng: random.Random, lo: Any, hi: Any) -> Any:
    if isinstance(lo, int) and isinstance(hi, int):
        return rng.randint(lo, hi)
    return round(rng.uniform(float(lo), float(hi)), 3)


def _fault(spec: ModuleType, family: str, rng: random.Random, start: float, dur: float) -> tuple[dict, dict]:
    f = spec.FAULTS[family]
    params = {k: _draw(rng, lo, hi) for k, (lo, hi) in sorted(f.get("params", {}).items())}
    target = rng.choice(f["targets"])
    fault = {"family": family, "target": target, "start_s": round(start, 2), "duration_s": round(dur, 2),
             "params": params}
    # "{target}" in an expected entity/service stands for the target drawn for this run
    exp = {k: v.replace("{target}", target) if isinstance(v, str) else v for k, v in f["expected"].items()}
    return fault, {**exp, **{k: fault[k] for k in ("family", "target", "start_s", "duration_s", "params")}}


def _cpu_targets(spec: ModuleType) -> list[str]:
    return list(getattr(spec, "CPU_TARGETS", None) or [s["name"] for s in spec.SERVICES])


def plan(workload: str, family: str, variant: int, cpu: int = 0, compact: bool = False) -> RunPlan:
    """The run of ``family`` (a workload fault family, a runner family or "healthy"), variant ``variant``.

    ``compact`` (quick suite, committed data): half the load, ~36 s instead of ~60 s.
    """
    spec = workloads.spec(workload)
    seed = seed_of(workload, family, variant)
    rng = random.Random(seed)
    base = float(getattr(spec, "RATE", 8.0)) * (0.5 if compact else 1.0)
    k = 0.6 if compact else 1.0
    run = RunPlan(run_id=f"{workload}.{family}.{variant}", workload=workload, family=family, variant=variant,
                  seed=seed, rate=round(base * rng.uniform(0.7, 1.3), 2), duration_s=0.0, compact=compact)
    if family == "healthy":
        run.duration_s = round(rng.uniform(55, 65) * k, 1)
        run.healthy = {"job_period_s": rng.choice([5, 10, 15]), "job_ms": round(rng.uniform(2, 8), 1)}
        if rng.random() < 0.7:
            run.swing = {"kind": rng.choice(["sine", "steps"]), "amp": 0.5, "period_s": round(rng.uniform(15, 30), 1)}
        if rng.random() < 0.6:
            run.hogs.append({"kind": "lowprio", "start_s": 0.0, "duration_s": run.duration_s, "count": 1,
                             "duty": round(rng.uniform(0.5, 0.8), 2), "nice": 19, "cpu": None})
        return run
    onset, dur, tail = rng.uniform(25, 35) * k, rng.uniform(20, 30) * k, rng.uniform(0, 5) * k
    run.duration_s = round(onset + dur + tail, 1)
    if rng.random() < 0.5:
        run.healthy = {"job_period_s": rng.choice([5, 10, 15]), "job_ms": round(rng.uniform(2, 8), 1)}
    if family == "cpu_contention":
        target = rng.choice(_cpu_targets(spec))
        count = rng.choice([2, 3])  # pinned to one core: costs the box at most that core
        run.pin = {target: cpu}
        run.hogs.append({"kind": "noisy", "start_s": round(onset, 2), "duration_s": round(dur, 2), "count": count,
                         "duty": 1.0, "nice": 0, "cpu": cpu})
        run.expected.append({"category": ["cpu_contention"], "entity": target, "service": target,
                             "family": family, "target": target, "start_s": round(onset, 2),
                             "duration_s": round(dur, 2), "params": {"hogs": count}})
        return run
    if family == "two_faults":
        names = sorted(n for n in spec.FAULTS if spec.FAULTS[n]["expected"]["category"])  # not a fix variant
        first = rng.choice(names)
        others = [n for n in names if _other_entity(spec, n, first)
                  and not set(spec.FAULTS[n]["expected"]["category"]) & set(spec.FAULTS[first]["expected"]["category"])]
        second = rng.choice(others)
        lag = rng.uniform(0, 6)
        for name, start, d in ((first, onset, dur), (second, onset + lag, dur - lag)):
            fault, exp = _fault(spec, name, rng, start, d)
            run.faults.append(fault)
            run.expected.append(exp)
        return run
    fault, exp = _fault(spec, family, rng, onset, dur)
    run.faults.append(fault)
    if exp["category"]:  # an empty list: a fix variant (e.g. the blocking job moved off the loop), a healthy run
        run.expected.append(exp)
    return run


def _other_entity(spec: ModuleType, a: str, b: str) -> bool:
    """Whether two families blame different entities ("{target}": drawn per run, so maybe)."""
    ea, eb = spec.FAULTS[a]["expected"]["entity"], spec.FAULTS[b]["expected"]["entity"]
    return ea != eb or "{target}" in ea


def families(workload: str) -> list[str]:
    return [*sorted(workloads.spec(workload).FAULTS), *RUNNER_FAMILIES]


def suite(name: str, only_workload: str | None = None, only_family: str | None = None,
          cpu: int = 0) -> list[RunPlan]:
    variants, healthy = SUITES[name]
    out: list[RunPlan] = []
    for w in workloads.names():
        if only_workload and w != only_workload:
            continue
        combos = [(f, v) for f in families(w) for v in range(1, variants + 1)]
        combos += [("healthy", v) for v in range(1, healthy + 1)]
        out += [plan(w, f, v, cpu, compact=name == "quick") for f, v in combos
                if not only_family or f == only_family]
    return out


__all__ = ["RUNNER_FAMILIES", "SUITES", "RunPlan", "families", "plan", "seed_of", "suite"]
