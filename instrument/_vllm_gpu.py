"""GPU energy, GPU-seconds and cost per vLLM request, split by vLLM's own token counts.

vLLM reports a request only when it has finished, so the live fair-share ledger of the
FastAPI path (which needs a call at request start) cannot be used. Instead every GPU sweep
appends ``(t, cumulative energy J, cumulative tokens)`` to a ring, the tokens being vLLM's
``vllm:prompt_tokens`` + ``vllm:generation_tokens`` counters from this process's Prometheus
registry. A request that ran over ``[a, b]`` with ``n`` tokens is owed
``E(a..b) * n / T(a..b)`` (its share of the tokens the engine processed meanwhile, capped at
1): GPU-seconds the same way from the wall time and the number of GPUs, cost from the price
per GPU-hour. Prefill and decode tokens weigh the same; that is the approximation.
"""

from __future__ import annotations

import bisect
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

logger = logging.getLogger(__name__)

TOKEN_COUNTERS = ("vllm:prompt_tokens", "vllm:generation_tokens")


def registry_token_reader(registry: Any = None) -> Callable[[], float]:
    """Sum of vLLM's prompt+generation token counters in ``registry`` (default: the global)."""
    import prometheus_client

    reg = registry if registry is not None else prometheus_client.REGISTRY
    names = [f"{n}_total" for n in TOKEN_COUNTERS]

    def read() -> float:
        total = 0.0
        for family in reg.restricted_registry(names).collect():
            for sample in family.samples:
                if sample.name in names:
                    total += sample.value
        return total

    return read


class TokenEnergyLedger:
    def __init__(self, *, tokens: Callable[[], float], gpus: int = 1,
                 price_per_gpu_hour: float | None = None, ring: int = 4096,
                 min_step_s: float = 0.2, clock: Callable[[], int] = time.time_ns) -> None:
        if gpus < 1:
            raise ValueError("gpus must be >= 1")
        self._tokens = tokens
        self.gpus = gpus
        self.price = price_per_gpu_hour
        self._min_step_ns = int(min_step_s * 1e9)
        self._clock = clock
        self._t: deque[int] = deque(maxlen=ring)
        self._e: deque[float] = deque(maxlen=ring)
        self._n: deque[float] = deque(maxlen=ring)
        self._lock = threading.Lock()

    def record(self, t_ns: int, energy_j: float, tokens: float | None = None) -> None:
        """One point: cumulative energy (all vLLM GPUs) and cumulative tokens at ``t_ns``."""
        with self._lock:
            if self._t and t_ns - self._t[-1] < self._min_step_ns:
                return
            self._t.append(t_ns)
            self._e.append(energy_j)
            self._n.append(self._tokens() if tokens is None else tokens)

    def on_sweep(self, sweep: Any) -> None:
        """Sampler listener: total ``energy_j`` of the physical GPUs (MIG children skipped)."""
        devices: Iterable[Any] = getattr(sweep, "devices", ())
        values = [d.values["energy_j"] for d in devices
                  if d.parent is None and "energy_j" in d.values]
        if not getattr(sweep, "up", False) or not values:
            return
        try:
            self.record(int(sweep.t_ns), float(sum(values)))
        except Exception:  # never raise into the sampler thread
            logger.debug("token ledger: recording a sweep failed", exc_info=True)

    def _at(self, t_ns: int) -> tuple[float, float] | None:
        ts = self._t
        if not ts:
            return None
        i = bisect.bisect_left(ts, t_ns)
        if i == 0:
            return self._e[0], self._n[0]
        if i >= len(ts):
            return self._e[-1], self._n[-1]
        t0, t1 = ts[i - 1], ts[i]
        f = (t_ns - t0) / (t1 - t0) if t1 > t0 else 1.0
        return (self._e[i - 1] + f * (self._e[i] - self._e[i - 1]),
                self._n[i - 1] + f * (self._n[i] - self._n[i - 1]))

    def attribute(self, start_ns: int, end_ns: int, tokens: int) -> dict[str, Any]:
        """Span attributes for a request over ``[start_ns, end_ns]`` with ``tokens`` tokens."""
        with self._lock:
            a, b = self._at(start_ns), self._at(end_ns)
        if a is None or b is None or end_ns <= start_ns:
            return {}
        energy = max(0.0, b[0] - a[0])
        window_tokens = b[1] - a[1]
        share = min(1.0, tokens / window_tokens) if window_tokens > 0 else 1.0
        gpu_seconds = (end_ns - start_ns) / 1e9 * self.gpus * share
        attrs: dict[str, Any] = {
            "infersight.gpu.energy_j": energy * share,
            "infersight.gpu.seconds": gpu_seconds,
            "infersight.gpu.share": share,
            "infersight.gpu.attribution": "tokens",
        }
        if self.price is not None:
            attrs["infersight.gpu.cost_usd"] = gpu_seconds * self.price / 3600.0
        return attrs


__all__ = ["TOKEN_COUNTERS", "TokenEnergyLedger", "registry_token_reader"]
