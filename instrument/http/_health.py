"""Readiness checks for ``/readyz`` (liveness ``/healthz`` needs none: it is always cheap)."""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

from infersight.instrument._errors import ConfigurationError

logger = logging.getLogger(__name__)

CheckResult = bool | None | tuple[bool, str]
ReadinessCheck = Callable[[], CheckResult | Awaitable[CheckResult]]


def _normalize(result: Any) -> tuple[bool, str]:
    if result is None or result is True:
        return True, ""
    if result is False:
        return False, "check returned False"
    if isinstance(result, tuple) and len(result) == 2:
        return bool(result[0]), str(result[1])
    return bool(result), "" if result else f"check returned {result!r}"


class Readiness:
    """Named checks; each returns True/None (ready), False, or ``(ok, reason)``, or raises.

    Async checks are awaited, sync checks run in the default executor (a slow check never
    blocks the event loop); each has ``timeout_s``.
    """

    def __init__(self, checks: Mapping[str, ReadinessCheck] | Iterable[ReadinessCheck] | None = None,
                 *, timeout_s: float = 2.0) -> None:
        self.timeout_s = timeout_s
        self.checks: dict[str, ReadinessCheck] = {}
        if isinstance(checks, Mapping):
            for name, check in checks.items():
                self.add(name, check)
        elif checks is not None:
            for check in checks:
                self.add(getattr(check, "__name__", f"check{len(self.checks)}"), check)

    def add(self, name: str, check: ReadinessCheck) -> None:
        if not callable(check):
            raise ConfigurationError(f"readiness check {name!r} is not callable: {check!r}")
        self.checks[name] = check

    async def _run_one(self, check: ReadinessCheck) -> tuple[bool, str]:
        try:
            if inspect.iscoroutinefunction(check):
                result = await asyncio.wait_for(check(), self.timeout_s)
            else:
                loop = asyncio.get_running_loop()
                result = await asyncio.wait_for(loop.run_in_executor(None, check), self.timeout_s)
                if inspect.isawaitable(result):
                    result = await asyncio.wait_for(result, self.timeout_s)
            return _normalize(result)
        except asyncio.TimeoutError:
            return False, f"timed out after {self.timeout_s:g} s"
        except Exception as exc:  # a failing check means "not ready", never a crash
            return False, f"{type(exc).__name__}: {exc}"

    async def evaluate(self) -> tuple[bool, dict[str, Any]]:
        names = list(self.checks)
        results = await asyncio.gather(*(self._run_one(self.checks[n]) for n in names))
        checks = {n: {"ok": ok, **({"reason": reason} if reason else {})} for n, (ok, reason) in
                  zip(names, results, strict=True)}
        ready = all(ok for ok, _ in results)
        body: dict[str, Any] = {"status": "ready" if ready else "not ready", "checks": checks}
        if not ready:
            body["reason"] = "; ".join(f"{n}: {c.get('reason', 'not ready')}" for n, c in checks.items()
                                       if not c["ok"])
        return ready, body


def json_bytes(body: Mapping[str, Any]) -> bytes:
    return json.dumps(body, separators=(",", ":"), sort_keys=True).encode()


__all__ = ["Readiness", "ReadinessCheck", "CheckResult", "json_bytes"]
