"""The run's fault schedule, read from the environment the corpus runner sets (CONTRACTS.md).

``RCA_FAULTS`` is a JSON list of ``{"family", "target", "start_s", "duration_s", "params"}``
with times relative to ``RCA_T0`` (epoch seconds at which the load starts); a fault is active
only inside its interval and only in the service it targets. ``RCA_HEALTHY`` holds harmless
extras ({"job_period_s": 10, "job_ms": 5}).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping
from typing import Any


class Schedule:
    def __init__(self, service: str, env: Mapping[str, str] = os.environ) -> None:
        self.service = service
        self.t0 = float(env.get("RCA_T0") or time.time())
        self.seed = int(env.get("RCA_SEED") or 0)
        self.healthy: dict[str, Any] = json.loads(env.get("RCA_HEALTHY") or "{}")
        faults = json.loads(env.get("RCA_FAULTS") or "[]")
        self.faults = [f for f in faults if f.get("target") in (None, "", service)]

    def active(self, family: str, now: float | None = None) -> dict[str, Any] | None:
        """The params of ``family`` when it is on now in this service, else None."""
        t = (time.time() if now is None else now) - self.t0
        for f in self.faults:
            if f["family"] == family and f["start_s"] <= t < f["start_s"] + f["duration_s"]:
                return dict(f.get("params") or {})
        return None

    def families(self) -> set[str]:
        return {f["family"] for f in self.faults}


__all__ = ["Schedule"]
