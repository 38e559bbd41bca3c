"""What a corpus service reads from its environment (CONTRACTS.md, "RCA corpus workloads").

    plan = FaultPlan.from_env()                    # RCA_FAULTS + RCA_T0
    fault = plan.active("slow_http", "pricing")    # the fault if it is on right now, else None
    delay_ms = fault.param("delay_ms", 100) if fault else 0.0

Also: ``RCA_SEED`` (:func:`seeded_rng`), ``RCA_HEALTHY`` (:func:`healthy_extras`, the harmless
periodic job of :func:`run_healthy_job`) and peers' URLs ``RCA_URL_<NAME>`` (:func:`peer_url`).
Nothing here touches telemetry except through infersight's public ``traced_job``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import time
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from infersight.instrument import traced_job

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Fault:
    """One scheduled fault: on while ``start <= now < end`` (epoch seconds)."""

    family: str
    target: str
    start: float
    end: float
    params: Mapping[str, float] = field(default_factory=dict)

    def param(self, name: str, default: float) -> float:
        value = self.params.get(name, default)
        return float(value)


class FaultPlan:
    """The run's faults; ``clock`` is injected (epoch seconds) so tests can move time."""

    def __init__(self, faults: list[Fault], clock: Callable[[], float] = time.time) -> None:
        self.faults = faults
        self.clock = clock

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None,
                 clock: Callable[[], float] = time.time) -> FaultPlan:
        env = os.environ if env is None else env
        try:
            t0 = float(env.get("RCA_T0") or clock())
            raw = json.loads(env.get("RCA_FAULTS") or "[]")
            faults = [Fault(family=str(f["family"]), target=str(f.get("target") or ""),
                            start=t0 + float(f.get("start_s", 0.0)),
                            end=t0 + float(f.get("start_s", 0.0)) + float(f.get("duration_s", 1e9)),
                            params={k: float(v) for k, v in (f.get("params") or {}).items()})
                      for f in raw]
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise ValueError(f"RCA_FAULTS/RCA_T0 are malformed ({type(exc).__name__}: {exc}); expected "
                             'RCA_FAULTS=[{"family", "target", "start_s", "duration_s", "params"}]') from exc
        if faults:
            logger.info("fault plan: %s", ", ".join(f"{f.family}->{f.target or '*'}" for f in faults))
        return cls(faults, clock)

    def active(self, family: str, target: str | None = None) -> Fault | None:
        now = self.clock()
        for f in self.faults:
            if f.family == family and (target is None or f.target in ("", target)) and f.start <= now < f.end:
                return f
        return None

    def planned(self, family: str, target: str | None = None) -> bool:
        """Whether the run has this fault at all (active or not)."""
        return any(f.family == family and (target is None or f.target in ("", target)) for f in self.faults)


def seeded_rng(salt: str, env: Mapping[str, str] | None = None) -> random.Random:
    """A per-service RNG from ``RCA_SEED``: reproducible runs, different streams per service."""
    env = os.environ if env is None else env
    seed = int(env.get("RCA_SEED") or 0)
    return random.Random(seed * 1_000_003 + zlib.crc32(salt.encode()))


def healthy_extras(env: Mapping[str, str] | None = None) -> dict[str, Any]:
    env = os.environ if env is None else env
    try:
        extras = json.loads(env.get("RCA_HEALTHY") or "{}")
    except ValueError as exc:
        raise ValueError(f"RCA_HEALTHY is not JSON: {exc}") from exc
    if not isinstance(extras, dict):
        raise ValueError("RCA_HEALTHY must be a JSON object")
    return extras


def peer_url(name: str, env: Mapping[str, str] | None = None) -> str:
    env = os.environ if env is None else env
    var = "RCA_URL_" + name.upper().replace("-", "_")
    url = env.get(var)
    if not url:
        raise RuntimeError(f"{var} is not set: the runner gives every service its peers' URLs")
    return url.rstrip("/")


def burn_cpu(ms: float) -> int:
    """Spend ``ms`` of this thread's CPU time (not wall time: the same work on a busy machine)."""
    end = time.thread_time() + ms / 1e3
    n = 0
    while time.thread_time() < end:
        n += sum(i * i for i in range(200)) & 1
    return n


async def run_healthy_job(extras: Mapping[str, Any], rng: random.Random, name: str = "config_refresh") -> None:
    """RCA_HEALTHY's harmless periodic job: ``job_ms`` of CPU on the loop every ``job_period_s``."""
    period = float(extras.get("job_period_s", 0) or 0)
    if period <= 0:
        return
    work_ms = float(extras.get("job_ms", 5))
    job = traced_job(name)
    await asyncio.sleep(period * rng.random())  # services do not tick in lockstep
    while True:
        with job as run:
            run.rows = burn_cpu(work_ms) + 1
        await asyncio.sleep(period)


__all__ = ["Fault", "FaultPlan", "burn_cpu", "healthy_extras", "peer_url", "run_healthy_job", "seeded_rng"]
