"""Per-request GPU attribution: energy, GPU-seconds, utilisation and throttling per span.

A fair-share clock makes every update O(1). Between two events (sweep, request start/end,
weight change) the GPU draws power ``P`` (the last power reading, summed over the physical
GPUs) and ``A(t) = integral P/W dt`` grows, ``W`` being the summed weight of the requests in
flight. A request of weight ``w`` is owed ``w * (A(end) - A(start))``. At each sweep the
energy of the interval is re-measured as the trapezoid of the two power readings and the
difference from the held estimate goes to the requests in flight then (or to the idle
pool), so attributed + idle energy always equals the integrated power. The device's total
energy counter is not used here: it costs ~3 ms a read on an H100 (the sampler reads it at
1 Hz for ``hw.energy``); benchmarks/gpu/h100_run.py checks the spans against it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from contextvars import ContextVar, Token
from dataclasses import dataclass

from infersight.instrument.gpu._errors import GpuConfigError
from infersight.instrument.gpu._nvml import THROTTLE_REASONS, decode_reasons
from infersight.instrument.gpu._types import Sweep

_NS = 1e-9


class RequestState:
    """What a request carries between start and end (returned by ``on_request_start``)."""

    __slots__ = ("weight", "tokens", "a_e", "a_s", "a_b", "acc_e", "acc_s", "acc_b", "cu0",
                 "ce0", "cp0", "seq0", "mask0", "xid0", "t0", "ledger", "ctx_token", "done")

    weight: float
    tokens: int
    a_e: float
    a_s: float
    a_b: float
    acc_e: float
    acc_s: float
    acc_b: float
    cu0: float
    ce0: float
    cp0: float
    seq0: int
    mask0: int
    xid0: int
    t0: int
    ledger: Ledger
    ctx_token: Token[RequestState | None] | None
    done: bool

    def __init__(self) -> None:
        self.tokens = 0
        self.acc_e = self.acc_s = self.acc_b = 0.0
        self.ctx_token: Token[RequestState | None] | None = None
        self.done = False


@dataclass(frozen=True, slots=True)
class Attribution:
    energy_j: float
    gpu_seconds: float
    busy_seconds: float
    util_mean: float | None
    power_mean_w: float | None
    reasons: tuple[str, ...]
    throttled: bool
    samples: int
    xid_errors: int
    tokens: int
    weight: float


class Ledger:
    """Thread-safe: sweeps arrive on the sampler thread, requests on the event loop."""

    def __init__(self, *, split: str = "equal", clock: Callable[[], int] = time.time_ns) -> None:
        if split not in ("equal", "tokens"):
            raise GpuConfigError(f"split must be 'equal' or 'tokens', got {split!r}")
        self.split = split
        self.clock = clock
        self._lock = threading.Lock()
        self.t_last = 0
        self.p_w = 0.0  # power estimate held until the next sweep (sum over devices)
        self.u = 0.0  # utilisation held (sum of device ratios)
        self.n_dev = 0
        self.w_total = 0.0
        self.inflight = 0
        self.a_e = self.a_s = self.a_b = 0.0  # per unit weight: energy, GPU-s, busy GPU-s
        self.cu = 0.0  # integral of utilisation (busy device-seconds), not shared
        self.ce = 0.0  # integral of power (device energy), not shared
        self.cp = 0.0  # integral of the held power reading, never corrected (for mean power)
        self.est_since_sweep = 0.0
        self.idle_energy_j = 0.0
        self.idle_gpu_seconds = 0.0
        self.attributed_energy_j = 0.0
        self.seq = 0
        self.mask = 0
        self.xid_total = 0
        self.bits: tuple[tuple[str, int], ...] = ()
        self._seen: dict[int, int] = {}  # reason bit -> last sweep seq it was set
        self._prev: dict[str, float | None] = {}  # uuid -> last power reading (W)
        self._prev_t = 0

    # --- time ---------------------------------------------------------------------------
    def _advance(self, t_ns: int) -> None:
        if t_ns <= self.t_last:
            return
        if self.t_last == 0:
            self.t_last = t_ns
            return
        dt = (t_ns - self.t_last) * _NS
        self.t_last = t_ns
        e, s, b = self.p_w * dt, self.n_dev * dt, self.u * dt
        self.cu += b
        self.ce += e
        self.cp += e
        self.est_since_sweep += e
        if self.inflight:
            w = self.w_total
            self.a_e += e / w
            self.a_s += s / w
            self.a_b += b / w
        else:
            self.idle_energy_j += e
            self.idle_gpu_seconds += s

    def on_sweep(self, sweep: Sweep) -> None:
        phys = [d for d in sweep.devices if d.parent is None]
        with self._lock:
            self._advance(sweep.t_ns)
            self.seq = sweep.seq
            dt = (sweep.t_ns - self._prev_t) * _NS if self._prev_t else 0.0
            prev, cur = self._prev, {}
            true_e = 0.0
            p_now = u_now = 0.0
            mask = xid = 0
            for d in phys:
                v = d.values
                power = v.get("power_w")
                cur[d.uuid] = power
                u_now += v.get("util_gpu", 0.0)
                mask |= d.reasons or 0
                xid += sum(d.xid_counts.values())
                if power is None:
                    continue
                p_now += power
                old = prev.get(d.uuid)
                if dt > 0:  # trapezoid between the two readings (a new device: its reading held)
                    true_e += 0.5 * ((old if old is not None else power) + power) * dt
            if dt > 0:
                corr = true_e - self.est_since_sweep
                self.ce += corr
                if self.inflight:
                    self.a_e += corr / self.w_total
                else:
                    self.idle_energy_j += corr
            self.est_since_sweep = 0.0
            self._prev, self._prev_t = cur, sweep.t_ns
            self.p_w, self.u, self.n_dev = p_now, u_now, len(phys)
            self.mask = mask
            self.xid_total = max(self.xid_total, xid)
            for _, bit in self.bits:
                if mask & bit:
                    self._seen[bit] = sweep.seq

    # --- requests -----------------------------------------------------------------------
    def begin(self, t_ns: int, weight: float = 1.0) -> RequestState:
        st = RequestState()
        st.ledger = self
        st.weight = weight
        st.t0 = t_ns
        with self._lock:
            self._advance(t_ns)
            self.inflight += 1
            self.w_total += weight
            st.a_e, st.a_s, st.a_b = self.a_e, self.a_s, self.a_b
            st.cu0, st.ce0, st.cp0 = self.cu, self.ce, self.cp
            st.seq0, st.mask0, st.xid0 = self.seq, self.mask, self.xid_total
        return st

    def reweight(self, st: RequestState, weight: float, t_ns: int) -> None:
        if weight <= 0 or st.done:
            return
        with self._lock:
            self._advance(t_ns)
            w = st.weight
            st.acc_e += w * (self.a_e - st.a_e)
            st.acc_s += w * (self.a_s - st.a_s)
            st.acc_b += w * (self.a_b - st.a_b)
            st.a_e, st.a_s, st.a_b = self.a_e, self.a_s, self.a_b
            self.w_total += weight - w
            st.weight = weight

    def end(self, st: RequestState, t_ns: int) -> Attribution:
        with self._lock:
            self._advance(t_ns)
            w = st.weight
            energy = st.acc_e + w * (self.a_e - st.a_e)
            if energy < 0.0:  # a negative power correction larger than its share: clamp and
                self.idle_energy_j += energy  # book the difference to the idle pool (conserved)
                energy = 0.0
            gpu_s = st.acc_s + w * (self.a_s - st.a_s)
            busy_s = st.acc_b + w * (self.a_b - st.a_b)
            if not st.done:
                st.done = True
                self.inflight -= 1
                self.w_total = self.w_total - w if self.inflight else 0.0
                self.attributed_energy_j += energy
            dur = (t_ns - st.t0) * _NS
            n = self.n_dev
            util = (self.cu - st.cu0) / (n * dur) if n and dur > 0 else (self.u / n if n else None)
            # mean of the readings held during the request: the sweep corrections in ``ce``
            # belong to whole intervals and would swamp a short request's mean
            power = (self.cp - st.cp0) / dur if dur > 0 else (self.p_w if n else None)
            seen = st.mask0
            for bit, seq in self._seen.items():
                if seq > st.seq0:
                    seen |= bit
            names = tuple(r for r in decode_reasons(seen, self.bits) if r != "idle")
            return Attribution(energy, gpu_s, busy_s, util, power, names,
                               any(r in THROTTLE_REASONS for r in names), self.seq - st.seq0,
                               self.xid_total - st.xid0, st.tokens, w)


_current: ContextVar[RequestState | None] = ContextVar("infersight_gpu_request", default=None)


def current_request() -> RequestState | None:
    return _current.get()


def set_current(st: RequestState | None) -> Token[RequestState | None]:
    return _current.set(st)


def reset_current(token: Token[RequestState | None] | None) -> None:
    if token is None:
        return
    try:
        _current.reset(token)
    except ValueError:  # ended in another context than it started: just clear ours
        _current.set(None)


def attribute(*, tokens: int | None = None, weight: float | None = None) -> bool:
    """Report work of the current request: ``tokens`` processed (prompt or generated) and,
    optionally, an explicit attribution ``weight``.

    With ``split="tokens"`` the request's share of the GPU from now on is proportional to the
    tokens reported so far (report at admission, e.g. prompt + max new tokens, for the best
    split); tokens also give the cost per 1k tokens on the span. Returns False outside an
    instrumented request (or when the GPU plane is off). O(1), never raises.
    """
    st = _current.get()
    if st is None or st.done:
        return False
    ledger: Ledger = st.ledger
    try:
        if tokens is not None and tokens > 0:
            st.tokens += int(tokens)
        w = weight
        if w is None and tokens and ledger.split == "tokens":
            w = float(st.tokens)
        if w is not None and w > 0:
            ledger.reweight(st, float(w), ledger.clock())
    except (TypeError, ValueError):
        return False
    return True


__all__ = ["Attribution", "Ledger", "RequestState", "attribute", "current_request",
           "reset_current", "set_current"]
