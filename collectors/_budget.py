"""The in-flight byte budget: decompressed request bytes held by every request at once.

HTTP bodies are counted as they stream in (``Hold.take`` from ``read_body``), gRPC messages as
soon as grpcio hands them over, and released when the request is answered. A request whose
bytes would pass the budget is refused (HTTP 503 / gRPC UNAVAILABLE, with a retry hint) instead
of being buffered, so the collector's memory for requests stays under ``limit`` plus a fixed
per-connection amount, however many connections send at once.
"""

from __future__ import annotations

import threading

from ._errors import OverloadedError


class InflightBudget:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0
        self.peak = 0  # the most bytes ever held at once (never above ``limit``)
        self.refused = 0
        self._lock = threading.Lock()

    def hold(self) -> Hold:
        return Hold(self)

    def fits(self, n: int) -> bool:
        return self.used + n <= self.limit


class Hold:
    """What one request holds of the budget; ``release()`` (idempotent) gives it all back."""

    def __init__(self, budget: InflightBudget) -> None:
        self.budget = budget
        self.bytes = 0

    def take(self, n: int) -> None:
        b = self.budget
        with b._lock:
            if b.used + n > b.limit:
                b.refused += 1
                raise OverloadedError("too many bytes in flight; retry later", retry_after=1.0)
            b.used += n
            self.bytes += n
            if b.used > b.peak:
                b.peak = b.used

    def release(self) -> None:
        b = self.budget
        with b._lock:
            b.used -= self.bytes
            self.bytes = 0
