"""GPU allocation failures: out-of-memory errors and allocator retries, from the app and torch.

``record_gpu_oom()`` is the app's hook (call it where ``torch.OutOfMemoryError`` / a CUDA OOM is
caught, or when an engine backs off for memory); when torch is loaded and CUDA initialised, the
GPU sampler also reads the caching allocator's own cumulative ``num_ooms`` and
``num_alloc_retries`` (``torch.cuda.memory_stats``) on its slow tier. Both are kept apart
(label ``source`` = ``app`` | ``torch``: an OOM the app reports is usually counted by torch too,
so take the larger of the two, never the sum); requests carry the larger per kind.
"""

from __future__ import annotations

import logging
import sys
import threading
from typing import Any

from opentelemetry import trace

log = logging.getLogger(__name__)

KINDS = ("oom", "alloc_retry")


class AllocCounters:
    """Process-wide cumulative counts by (kind, source); thread-safe, O(1)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.app = {k: 0 for k in KINDS}
        self.torch = {k: 0 for k in KINDS}
        self.torch_seen = False

    def record(self, kind: str, n: int = 1) -> None:
        with self._lock:
            self.app[kind] = self.app.get(kind, 0) + n

    def set_torch(self, ooms: int, retries: int) -> None:
        with self._lock:
            self.torch = {"oom": ooms, "alloc_retry": retries}
            self.torch_seen = True

    def totals(self) -> tuple[int, int]:
        """(OOMs, allocation retries): per kind the larger of the app's and torch's counts."""
        a, t = self.app, self.torch
        return max(a["oom"], t["oom"]), max(a["alloc_retry"], t["alloc_retry"])

    def series(self) -> list[tuple[str, str, int]]:
        """(kind, source, count) for export; torch only once it has been read."""
        with self._lock:
            out = [(k, "app", v) for k, v in self.app.items()]
            if self.torch_seen:
                out.extend((k, "torch", v) for k, v in self.torch.items())
        return out


ALLOC = AllocCounters()


def record_gpu_oom(kind: str = "oom", *, bytes_requested: int | None = None,
                   device: str | None = None) -> None:
    """Report a GPU allocation failure of this process: ``kind="oom"`` (an out-of-memory error)
    or ``"alloc_retry"`` (memory was freed and the allocation retried, or the engine backed off).

    Counted in ``infersight_gpu_allocation_failures_total{kind, source="app"}`` and added as an
    ``infersight.gpu.oom`` event to the current span (the request's ``infersight.gpu.ooms`` /
    ``alloc_retries`` count it too). O(1); never raises.
    """
    try:
        if kind not in KINDS:
            log.warning("record_gpu_oom: kind must be one of %s, got %r; counted as 'oom'", KINDS, kind)
            kind = "oom"
        ALLOC.record(kind)
        span = trace.get_current_span()
        if span.is_recording():
            attrs: dict[str, Any] = {"infersight.gpu.alloc_failure.kind": kind}
            if bytes_requested is not None:
                attrs["infersight.gpu.alloc_failure.bytes"] = int(bytes_requested)
            if device is not None:
                attrs["infersight.gpu.alloc_failure.device"] = str(device)
            span.add_event("infersight.gpu.oom", attrs)
    except Exception:
        log.debug("record_gpu_oom failed", exc_info=True)


def torch_alloc_stats() -> tuple[int, int] | None:
    """Sum over devices of torch's ``num_ooms`` and ``num_alloc_retries``, only when torch is
    already imported and CUDA initialised (never imports torch, never initialises CUDA)."""
    torch = sys.modules.get("torch")
    cuda = getattr(torch, "cuda", None) if torch is not None else None
    if cuda is None or not getattr(cuda, "is_initialized", lambda: False)():
        return None
    ooms = retries = 0
    for d in range(int(cuda.device_count())):
        stats = cuda.memory_stats(d)
        ooms += int(stats.get("num_ooms", 0))
        retries += int(stats.get("num_alloc_retries", 0))
    return ooms, retries


__all__ = ["ALLOC", "AllocCounters", "KINDS", "record_gpu_oom", "torch_alloc_stats"]
