"""The attribution ledger: who the GPUs' energy and time went to, and each request's part.

Every interval between two events (sweep, request start/end, weight or device change) is split
per physical GPU between three consumers by the shares held from the last sweep
(:mod:`._shares`): **other** processes get their measured fraction ``o`` of the device's time;
while this process has requests in flight they get the rest ``1 - o`` (they hold the GPU),
unless this process does no GPU work (its model is declared off the GPU, torch has no CUDA, or
its measured utilisation stayed 0 for ``no_gpu_work_after_s`` of serving time): then that rest is
**idle**; with no request in flight **self** gets its measured fraction ``s`` and the remainder is
idle. Energy uses the held power readings; at each sweep the interval is re-measured as the
trapezoid of two readings and the difference is split the same way, so self + other + idle
always equals the integrated power. GPU-seconds use the same fractions of wall time.

Requests share the self part through a fair-share clock: ``A(t) = ∫ r/W dt`` (``r`` the rate to
requests, ``W`` the summed weight in flight); a request of weight ``w`` is owed
``w·(A(end) − A(start))``. Every request update is O(1) under one lock.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from infersight.instrument.gpu._errors import GpuConfigError
from infersight.instrument.gpu._memory import ALLOC, AllocCounters
from infersight.instrument.gpu._nvml import THROTTLE_REASONS, decode_reasons
from infersight.instrument.gpu._records import Attribution, Consumers, RequestState
from infersight.instrument.gpu._types import Sweep

_NS = 1e-9
_MAX_PIDS = 64


class _Dev:
    """What the ledger holds for one physical GPU until the next sweep."""

    __slots__ = ("power", "other", "self_u", "others")

    def __init__(self, power: float, other: float, self_u: float,
                 others: tuple[tuple[int, float], ...]) -> None:
        self.power, self.other, self.others = power, min(1.0, max(0.0, other)), others
        self.self_u = min(max(0.0, self_u), 1.0 - self.other)


class Ledger:
    """Thread-safe: sweeps arrive on the sampler thread, requests on the event loop."""

    def __init__(self, *, split: str = "equal", clock: Callable[[], int] = time.time_ns,
                 no_gpu_work_after_s: float = 1.0, alloc: AllocCounters | None = None) -> None:
        if split not in ("equal", "tokens"):
            raise GpuConfigError(f"split must be 'equal' or 'tokens', got {split!r}")
        if not no_gpu_work_after_s > 0:
            raise GpuConfigError(f"no_gpu_work_after_s must be > 0, got {no_gpu_work_after_s!r}")
        self.split = split
        self.clock = clock
        self.alloc = alloc or ALLOC
        self.no_gpu_work_after_s = no_gpu_work_after_s
        self._lock = threading.Lock()
        self.t_last = 0
        self._devs: dict[str, _Dev] = {}
        self.p_w = self.u = self.o = self.s = 0.0  # held sums over the physical GPUs
        self.n_dev = 0
        self.share_source = ""
        self.w_total = 0.0
        self.inflight = 0
        self.a_e = self.a_s = self.a_b = 0.0  # per unit weight: energy, GPU-s, busy GPU-s
        self.cu = self.cs = self.co = 0.0  # integrals of device / self / other utilisation
        self.cp = 0.0  # integral of the held power reading, never corrected (for mean power)
        self.e_self = self.e_other = self.e_idle = 0.0  # energy by consumer (J)
        self.s_self = self.s_other = self.s_idle = 0.0  # GPU-seconds by consumer
        self.attributed_energy_j = 0.0  # to finished requests
        self.idle_energy_j = 0.0  # not to a request nor another process (self outside requests + idle)
        self.model_on_gpu: bool | None = None
        self.zero_serving_s = 0.0  # serving time with this process's utilisation held at 0
        self.gpu_work = True
        self._serving_since_sweep = 0.0
        self._dt_since_sweep = 0.0
        self._rates: tuple[float, ...] = (0.0,) * 11
        self.seq = 0
        self.mask = 0
        self.xid_total = 0
        self.bits: tuple[tuple[str, int], ...] = ()
        self._seen: dict[int, int] = {}  # reason bit -> last sweep seq it was set
        self._prev: dict[str, float | None] = {}  # uuid -> last power reading (W)
        self._prev_t = 0
        self.mem_used: float | None = None
        self.mem_total: float | None = None
        self._mem: deque[tuple[int, float]] = deque(maxlen=64)  # (seq, used) at slow sweeps
        self._other_mark = (0.0, 0.0)
        self.by_pid: dict[int, list[Any]] = {}  # other pid -> [J, GPU-s, name, last seq]

    @property
    def total_energy_j(self) -> float:
        return self.e_self + self.e_other + self.e_idle

    def consumers(self) -> Consumers:
        """A consistent copy of the per-consumer and per-process totals (for exporters)."""
        with self._lock:
            return Consumers(
                (("self", self.e_self), ("other", self.e_other), ("idle", self.e_idle)),
                (("self", self.s_self), ("other", self.s_other), ("idle", self.s_idle)),
                tuple((pid, e[2], e[0]) for pid, e in self.by_pid.items()),
                self.attributed_energy_j, self.idle_energy_j)

    # --- rates ----------------------------------------------------------------------------
    def _recompute(self) -> None:
        gw = self.gpu_work
        req_e = req_s = req_b = sidle_e = sidle_s = oth_e = oth_s = 0.0
        bself_e = bself_s = bidle_e = bidle_s = 0.0
        for d in self._devs.values():
            p, o, s = d.power, d.other, d.self_u
            free = 1.0 - o
            if gw:
                req_e += p * free
                req_s += free
                req_b += s
            else:
                sidle_e += p * free
                sidle_s += free
            oth_e += p * o
            oth_s += o
            bself_e += p * s
            bself_s += s
            bidle_e += p * (free - s)
            bidle_s += free - s
        self._rates = (req_e, req_s, req_b, sidle_e, sidle_s, oth_e, oth_s, bself_e, bself_s,
                       bidle_e, bidle_s)

    def _advance(self, t_ns: int) -> None:
        if t_ns <= self.t_last:
            return
        if self.t_last == 0:
            self.t_last = t_ns
            return
        dt = (t_ns - self.t_last) * _NS
        self.t_last = t_ns
        r = self._rates
        self.cu += self.u * dt
        self.cs += self.s * dt
        self.co += self.o * dt
        self.cp += self.p_w * dt
        self._dt_since_sweep += dt
        self.e_other += r[5] * dt
        self.s_other += r[6] * dt
        if self.inflight:
            w = self.w_total
            e = r[0] * dt
            self.a_e += e / w
            self.a_s += r[1] * dt / w
            self.a_b += r[2] * dt / w
            self.e_self += e
            self.s_self += r[1] * dt
            ie = r[3] * dt
            self.e_idle += ie
            self.s_idle += r[4] * dt
            self.idle_energy_j += ie
            self._serving_since_sweep += dt
        else:
            be, ie = r[7] * dt, r[9] * dt
            self.e_self += be
            self.s_self += r[8] * dt
            self.e_idle += ie
            self.s_idle += r[10] * dt
            self.idle_energy_j += be + ie

    def _correct(self, d: _Dev, corr: float) -> None:
        """Split an energy correction of one device like the held interval was split."""
        o = d.other
        free = 1.0 - o
        self.e_other += corr * o
        if self.inflight:
            if self.gpu_work:
                self.a_e += corr * free / self.w_total
                self.e_self += corr * free
            else:
                self.e_idle += corr * free
                self.idle_energy_j += corr * free
        else:
            sc, ic = corr * d.self_u, corr * (free - d.self_u)
            self.e_self += sc
            self.e_idle += ic
            self.idle_energy_j += sc + ic

    # --- sweeps and facts -----------------------------------------------------------------
    def on_sweep(self, sweep: Sweep) -> None:
        phys = [d for d in sweep.devices if d.parent is None]
        with self._lock:
            self._advance(sweep.t_ns)
            self.seq = sweep.seq
            dt = (sweep.t_ns - self._prev_t) * _NS if self._prev_t else 0.0
            prev, cur = self._prev, {}
            mask = xid = 0
            if dt > 0:
                present = {d.uuid for d in phys}
                for d in phys:
                    power = d.values.get("power_w")
                    old = prev.get(d.uuid)
                    held = self._devs.get(d.uuid)
                    if held is None:
                        continue
                    now = power if power is not None else old
                    if now is None:
                        continue
                    true_e = 0.5 * ((old if old is not None else now) + now) * dt
                    self._correct(held, true_e - held.power * self._dt_since_sweep)
                for uuid, held in self._devs.items():  # a device gone: its estimate is withdrawn
                    if uuid not in present:
                        self._correct(held, -held.power * self._dt_since_sweep)
            self._split_others()
            # the interval's zero-utilisation serving time decides whether requests do GPU work
            if self.s <= 0.0:
                self.zero_serving_s += self._serving_since_sweep
            self._dt_since_sweep = self._serving_since_sweep = 0.0
            devs: dict[str, _Dev] = {}
            p_now = u_now = 0.0
            sources: set[str] = set()
            for d in phys:
                v = d.values
                power = v.get("power_w")
                cur[d.uuid] = power
                util = v.get("util_gpu", 0.0)
                u_now += util
                mask |= d.reasons or 0
                xid += sum(d.xid_counts.values())
                sh = d.share
                if sh is None:
                    dev = _Dev(power or 0.0, 0.0, util, ())
                    sources.add("device")
                else:
                    dev = _Dev(power or 0.0, sh.other_util, sh.self_util, sh.other)
                    sources.add(sh.source)
                    for pid, name in d.process_names:
                        entry = self.by_pid.get(pid)
                        if entry is not None and name:
                            entry[2] = name
                devs[d.uuid] = dev
                p_now += dev.power
            self._devs = devs
            self._prev, self._prev_t = cur, sweep.t_ns
            self.p_w, self.u, self.n_dev = p_now, u_now, len(phys)
            self.s = sum(d.self_u for d in devs.values())
            self.o = sum(d.other for d in devs.values())
            self.share_source = ("device" if "device" in sources else
                                 "process_utilization" if "process_utilization" in sources else
                                 next(iter(sources), ""))
            if self.s > 0.0:
                self.zero_serving_s = 0.0
            self._set_gpu_work()
            self._recompute()
            if sweep.slow and phys and "mem_used" in phys[0].values:
                used = sum(d.values.get("mem_used", 0.0) for d in phys)
                self.mem_used = used
                self.mem_total = sum(d.values.get("mem_total", 0.0) for d in phys)
                self._mem.append((sweep.seq, used))
            self.mask = mask
            self.xid_total = max(self.xid_total, xid)
            for _, bit in self.bits:
                if mask & bit:
                    self._seen[bit] = sweep.seq

    def _split_others(self) -> None:
        """The other consumers' energy since the last sweep, split between their pids by their
        measured utilisation x power (sampler thread, O(pids))."""
        de = self.e_other - self._other_mark[0]
        ds = self.s_other - self._other_mark[1]
        self._other_mark = (self.e_other, self.s_other)
        if de == 0.0 and ds == 0.0:
            return
        we: dict[int, float] = {}
        ws: dict[int, float] = {}
        for d in self._devs.values():
            for pid, u in d.others:
                we[pid] = we.get(pid, 0.0) + d.power * u
                ws[pid] = ws.get(pid, 0.0) + u
        te, ts = sum(we.values()), sum(ws.values())
        for pid in ws:
            entry = self.by_pid.get(pid)
            if entry is None:
                if len(self.by_pid) >= _MAX_PIDS:  # forget the pid seen longest ago
                    oldest = min(self.by_pid, key=lambda p: self.by_pid[p][3])
                    del self.by_pid[oldest]
                entry = self.by_pid[pid] = [0.0, 0.0, "", 0]
            entry[0] += de * we[pid] / te if te > 0 else 0.0
            entry[1] += ds * ws[pid] / ts if ts > 0 else 0.0
            entry[3] = self.seq

    def _set_gpu_work(self) -> None:
        self.gpu_work = (self.model_on_gpu is not False
                         and self.zero_serving_s < self.no_gpu_work_after_s)

    def set_model_on_gpu(self, on_gpu: bool | None, t_ns: int | None = None) -> None:
        """The model moved (declared, or read from its parameters): re-split from now on."""
        with self._lock:
            self._advance(t_ns if t_ns is not None else self.clock())
            self.model_on_gpu = on_gpu
            if on_gpu:
                self.zero_serving_s = 0.0
            self._set_gpu_work()
            self._recompute()

    # --- requests -------------------------------------------------------------------------
    def begin(self, t_ns: int, weight: float = 1.0) -> RequestState:
        st = RequestState()
        st.ledger = self
        st.weight = weight
        st.t0 = t_ns
        alloc = self.alloc
        with self._lock:
            self._advance(t_ns)
            self.inflight += 1
            self.w_total += weight
            st.a_e, st.a_s, st.a_b = self.a_e, self.a_s, self.a_b
            st.cu0, st.cp0, st.cs0, st.co0 = self.cu, self.cp, self.cs, self.co
            st.seq0, st.mask0, st.xid0 = self.seq, self.mask, self.xid_total
            st.mem0 = (self.mem_used, self.mem_total)
        st.alloc0 = alloc.totals()
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
                self.idle_energy_j += energy  # book the difference outside requests (conserved)
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
            span = n * dur
            util = (self.cu - st.cu0) / span if n and dur > 0 else (self.u / n if n else None)
            self_u = (self.cs - st.cs0) / span if n and dur > 0 else (self.s / n if n else None)
            other_u = (self.co - st.co0) / span if n and dur > 0 else (self.o / n if n else None)
            # mean of the readings held during the request: the sweep corrections belong to
            # whole intervals and would swamp a short request's mean
            power = (self.cp - st.cp0) / dur if dur > 0 else (self.p_w if n else None)
            seen = st.mask0
            for bit, seq in self._seen.items():
                if seq > st.seq0:
                    seen |= bit
            mem_max = st.mem0[0]
            for seq, used in reversed(self._mem):
                if seq <= st.seq0:
                    break
                mem_max = used if mem_max is None else max(mem_max, used)
            mem_total = self.mem_total if self.mem_total is not None else st.mem0[1]
            samples, xid = self.seq - st.seq0, self.xid_total - st.xid0
            source, gpu_work = self.share_source, self.gpu_work
        names = tuple(r for r in decode_reasons(seen, self.bits) if r != "idle")
        ooms, retries = self.alloc.totals()
        return Attribution(energy, gpu_s, busy_s, util, power, names,
                           any(r in THROTTLE_REASONS for r in names), samples, xid, st.tokens, w,
                           self_u, other_u, mem_max, mem_total, ooms - st.alloc0[0],
                           retries - st.alloc0[1], source, gpu_work)


__all__ = ["Attribution", "Consumers", "Ledger", "RequestState"]
