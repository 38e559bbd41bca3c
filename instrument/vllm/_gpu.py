"""GPU energy, GPU-seconds and cost per vLLM request, split by vLLM's own token counts.

vLLM reports a request only when it has finished, so the live fair-share ledger of the
FastAPI path (which needs a call at request start) cannot be used. Instead every GPU sweep
appends ``(t, cumulative energy J, cumulative tokens)`` to a ring (energy integrated from
the sampler's power readings), the tokens being vLLM's
``vllm:prompt_tokens`` + ``vllm:generation_tokens`` counters from this process's Prometheus
registry. A request that ran over ``[a, b]`` with ``n`` tokens is owed
``E(a..b) * n / T(a..b)`` (its share of the tokens the engine processed meanwhile, counted
from the ring points just outside the window so a share is never overstated; capped at 1): GPU-seconds the same way from the wall time and the number of GPUs, cost from the price
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

from infersight.instrument._errors import ConfigurationError

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
                 price_per_gpu_hour: float | None = None, ring: int = 8192,
                 min_step_s: float = 0.1, clock: Callable[[], int] = time.time_ns) -> None:
        if gpus < 1:
            raise ConfigurationError("gpus must be >= 1")
        self._tokens = tokens
        self.gpus = gpus
        self.price = price_per_gpu_hour
        self._min_step_ns = int(min_step_s * 1e9)
        self._clock = clock
        self._t: deque[int] = deque(maxlen=ring)
        self._e: deque[float] = deque(maxlen=ring)
        self._n: deque[float] = deque(maxlen=ring)
        self._lock = threading.Lock()
        self._energy = 0.0
        self._last_power: tuple[int, float] | None = None

    def record(self, t_ns: int, energy_j: float, tokens: float | None = None) -> None:
        """One point: cumulative energy (all vLLM GPUs) and cumulative tokens at ``t_ns``."""
        with self._lock:
            if self._t and t_ns - self._t[-1] < self._min_step_ns:
                return
            self._t.append(t_ns)
            self._e.append(energy_j)
            self._n.append(self._tokens() if tokens is None else tokens)

    def on_sweep(self, sweep: Any) -> None:
        """Sampler listener: integrates the physical GPUs' power (MIG children skipped).

        The sampler reads power at its fast rate but the total-energy counter only rarely
        (it is slow to read), so energy is integrated here from consecutive power readings.
        """
        devices: Iterable[Any] = getattr(sweep, "devices", ())
        watts = [d.values["power_w"] for d in devices if d.parent is None and "power_w" in d.values]
        if not getattr(sweep, "up", False) or not watts:
            self._last_power = None
            return
        try:
            t_ns, power = int(sweep.t_ns), float(sum(watts))
            if self._last_power is not None and t_ns > self._last_power[0]:
                t0, p0 = self._last_power
                self._energy += (p0 + power) / 2 * (t_ns - t0) / 1e9  # trapezoid
            self._last_power = (t_ns, power)
            self.record(t_ns, self._energy)
        except Exception:  # never raise into the sampler thread
            logger.debug("token ledger: recording a sweep failed", exc_info=True)

    def _energy_at(self, t_ns: int) -> float:
        ts, es = self._t, self._e
        i = bisect.bisect_left(ts, t_ns)
        if i == 0:
            return es[0]
        if i >= len(ts):
            return es[-1]
        t0, t1 = ts[i - 1], ts[i]
        return es[i - 1] + (t_ns - t0) / (t1 - t0) * (es[i] - es[i - 1]) if t1 > t0 else es[i]

    def _tokens_between(self, a_ns: int, b_ns: int) -> float:
        # the ring points just outside [a, b]: tokens of other requests in those slivers count
        # too, so a share is never overstated and concurrent shares never sum past 1
        ts, ns = self._t, self._n
        i = max(0, bisect.bisect_right(ts, a_ns) - 1)
        j = min(len(ts) - 1, bisect.bisect_left(ts, b_ns))
        return ns[j] - ns[i]

    def attribute(self, start_ns: int, end_ns: int, tokens: int) -> dict[str, Any]:
        """Span attributes for a request over ``[start_ns, end_ns]`` with ``tokens`` tokens."""
        with self._lock:
            if not self._t or end_ns <= start_ns:
                return {}
            energy = max(0.0, self._energy_at(end_ns) - self._energy_at(start_ns))
            window_tokens = self._tokens_between(start_ns, end_ns)
        share = min(1.0, tokens / window_tokens) if window_tokens > 0 else 1.0
        gpu_seconds = (end_ns - start_ns) / 1e9 * self.gpus * share
        attrs: dict[str, Any] = {
            "infersight.gpu.energy_j": energy * share,
            "infersight.gpu.seconds": gpu_seconds,
            "infersight.gpu.share": share,
            "infersight.gpu.split": "tokens",
            "infersight.gpu.tokens": tokens,
        }
        if self.price is not None:
            cost = gpu_seconds * self.price / 3600.0
            attrs["infersight.gpu.cost_usd"] = cost
            if tokens > 0:
                attrs["infersight.gpu.cost_per_1k_tokens_usd"] = cost * 1000.0 / tokens
        return attrs


__all__ = ["TOKEN_COUNTERS", "TokenEnergyLedger", "registry_token_reader"]
