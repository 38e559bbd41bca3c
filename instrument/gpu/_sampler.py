"""The background sampler: one daemon thread reads NVML at 1-100 Hz into a cached sweep.

Readers of the cache (Prometheus ``collect()``, OTel callbacks, request attribution) never call
NVML. No pynvml, no driver or no GPU: one WARNING, ``up`` stays 0 and no thread is started.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from infersight.instrument.gpu._errors import GpuConfigError
from infersight.instrument.gpu._nvml import NvmlApi, load_nvml
from infersight.instrument.gpu._reader import LibraryGone, NvmlReader
from infersight.instrument.gpu._shares import self_pids as _self_pids
from infersight.instrument.gpu._types import Sweep

log = logging.getLogger(__name__)

MIN_INTERVAL_S = 0.01  # 100 Hz
MAX_INTERVAL_S = 1.0  # 1 Hz
_RETRY_MIN_S, _RETRY_MAX_S = 1.0, 30.0

Listener = Callable[[Sweep], None]


def check_interval(interval_s: float) -> float:
    if not isinstance(interval_s, (int, float)) or isinstance(interval_s, bool):
        raise GpuConfigError(f"interval_s must be a number of seconds, got {interval_s!r}")
    if not MIN_INTERVAL_S <= float(interval_s) <= MAX_INTERVAL_S:
        raise GpuConfigError(
            f"interval_s={interval_s!r} is outside 0.01-1.0 s (sampling must be 1-100 Hz)")
    return float(interval_s)


class GpuSampler:
    """Samples every visible GPU (and MIG instance) on a daemon thread.

    ``nvml`` is the pynvml module (default: ``import pynvml``; tests inject a fake).
    ``util_interval_s`` paces utilisation (the driver refreshes it every 200 ms: reading it faster
    returns the same value); ``slow_interval_s`` the slow-moving reads (framebuffer memory, memory clock, temperature, P-state,
    power limit, per-process memory, XID events; PCIe throughput too with ``pcie=True``);
    ``energy_interval_s`` the total-energy counter (~3 ms a read on an H100) and the ECC counters. ``clock`` stamps sweeps (default ``time.time_ns``,
    the span clock). ``self_pids``: more pids that count as this process when the GPU's time is
    split between processes (its own pid is always included); ``on_gpu``: whether this
    process's model is on a GPU (default: the declared model devices), asked on the slow tier.
    """

    def __init__(self, *, nvml: Any = None, interval_s: float = 0.1, slow_interval_s: float = 1.0,
                 energy_interval_s: float = 10.0, util_interval_s: float = 0.2,
                 devices: Sequence[int] | None = None, clock: Callable[[], int] = time.time_ns, retry_min_s: float = _RETRY_MIN_S,
                 pcie: bool = False, self_pids: Iterable[int] = (),
                 on_gpu: Callable[[], bool | None] | None = None) -> None:
        self.interval_s = check_interval(interval_s)
        self.slow_every = self._every(slow_interval_s, "slow_interval_s")
        self.energy_every = self._every(energy_interval_s, "energy_interval_s")
        self.util_every = self._every(util_interval_s, "util_interval_s")
        self._nvml_arg = nvml
        self._devices = devices
        self._pcie = pcie
        self._clock = clock
        self.self_pids = _self_pids(self_pids)
        self._on_gpu = on_gpu if on_gpu is not None else _model_on_gpu
        self._listeners: list[Listener] = []
        self._on_stop: list[Callable[[], None]] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._reader: NvmlReader | None = None
        self._open = False
        self._retry_at = 0.0
        self._retry_min_s = retry_min_s
        self._retry_s = retry_min_s
        self._seq = 0
        self._listener_errors = 0
        self.last: Sweep = Sweep(seq=0, t_ns=0, duration_s=0.0, up=False)
        self.available = False
        self.cpu_s = 0.0  # CPU time spent by the sampler thread (sweeps + listeners)

    def _every(self, seconds: float, name: str) -> int:
        if not isinstance(seconds, (int, float)) or not seconds > 0:
            raise GpuConfigError(f"{name} must be a positive number of seconds, got {seconds!r}")
        return max(1, round(max(float(seconds), self.interval_s) / self.interval_s))

    # --- public ---------------------------------------------------------------------------
    @property
    def api(self) -> NvmlApi | None:
        return None if self._reader is None else self._reader.api

    @property
    def device_names(self) -> tuple[str, ...]:
        """Names of the devices found at discovery (empty without a GPU)."""
        return () if self._reader is None else tuple(d.name for d in self._reader.devices)

    @property
    def read_errors(self) -> dict[tuple[str, str], int]:
        return {} if self._reader is None else dict(self._reader.read_errors)

    def add_listener(self, fn: Listener) -> None:
        """``fn(sweep)`` runs on the sampler thread after each sweep; it must be quick."""
        self._listeners.append(fn)

    def on_stop(self, fn: Callable[[], None]) -> None:
        """``fn()`` runs once in :meth:`stop`, after the thread has ended."""
        self._on_stop.append(fn)

    def open(self) -> bool:
        """Load and initialise NVML once; False (after one WARNING) when there is no GPU."""
        module = self._nvml_arg if self._nvml_arg is not None else load_nvml()
        if module is None:
            log.warning("infersight GPU plane off: pynvml is not installed "
                        "(pip install 'infersight[gpu]'); infersight_gpu_up=0")
            return False
        self._reader = NvmlReader(NvmlApi(module), devices=self._devices, pcie=self._pcie,
                                  self_pids=self.self_pids)
        try:
            self._reader.open()
        except Exception as exc:
            log.warning("infersight GPU plane off: NVML could not start (%s: %s); "
                        "infersight_gpu_up=0", type(exc).__name__, exc)
            self._reader = None
            return False
        if not self._reader.devices:
            log.warning("infersight GPU plane off: NVML sees no GPU; infersight_gpu_up=0")
            self._reader.close()
            self._reader = None
            return False
        self._open = True
        self.available = True
        return True

    def start(self) -> bool:
        """``open()`` and start the thread; returns whether sampling runs."""
        if self._thread is not None:
            return True
        if not self.available and not self.open():
            return False
        self.sweep_once()
        self._thread = threading.Thread(target=self._run, name="infersight-gpu-sampler",
                                        daemon=True)
        self._thread.start()
        return True

    def stop(self, timeout: float = 3.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        if self._reader is not None and self._open:
            self._reader.close()
            self._open = False
        self.last = Sweep(seq=self._seq, t_ns=self._clock(), duration_s=0.0, up=False)
        hooks, self._on_stop = self._on_stop, []
        for fn in hooks:
            try:
                fn()
            except Exception:
                log.exception("infersight GPU plane: a stop hook failed")

    def sweep_once(self) -> Sweep:
        """One sweep (the thread calls this; tests call it directly for determinism)."""
        t0 = time.perf_counter()
        self._seq += 1
        seq = self._seq
        t_ns = self._clock()
        devices: list[Any] = []
        reader = self._reader
        if reader is not None and not self._open and time.monotonic() >= self._retry_at:
            self._reopen(reader)
        slow = self._due(seq, self.slow_every)
        if reader is not None and self._open:
            if slow:
                try:
                    reader.on_gpu = self._on_gpu()
                except Exception:
                    reader.on_gpu = None
            try:
                devices = reader.read(slow=slow,
                                      energy=self._due(seq, self.energy_every),
                                      util=self._due(seq, self.util_every))
                if not devices and all(d.lost for d in reader.devices):
                    raise LibraryGone("every device is lost")
            except LibraryGone as exc:
                log.warning("infersight GPU plane: NVML went away (%s); infersight_gpu_up=0, "
                            "retrying", exc)
                reader.close()
                self._open = False
                self._retry_s = self._retry_min_s
                self._retry_at = time.monotonic() + self._retry_s
                devices = []
        sweep = Sweep(seq=seq, t_ns=t_ns, duration_s=time.perf_counter() - t0, up=bool(devices),
                      devices=tuple(devices),
                      driver_version=reader.driver_version if reader is not None else "",
                      slow=slow, self_pids=self.self_pids)
        self.last = sweep
        for fn in self._listeners:
            try:
                fn(sweep)
            except Exception:
                self._listener_errors += 1
                if self._listener_errors == 1:
                    log.exception("infersight GPU plane: a sweep listener failed (logged once)")
        return sweep

    # --- internals ----------------------------------------------------------------------
    @staticmethod
    def _due(seq: int, every: int) -> bool:
        return every == 1 or seq % every == 1

    def _reopen(self, reader: NvmlReader) -> None:
        try:
            reader.open()
            self._open = bool(reader.devices)
            if self._open:
                log.warning("infersight GPU plane: NVML is back, %d device(s)", len(reader.devices))
                return
            reader.close()
        except Exception as exc:
            log.debug("NVML re-init failed: %r", exc)
        self._retry_s = min(max(self._retry_s * 2, self._retry_min_s), _RETRY_MAX_S)
        self._retry_at = time.monotonic() + self._retry_s

    def _run(self) -> None:
        # time.sleep, not Event.wait: on the H100 VM a wake-up from Event.wait cost ~97 us of
        # thread CPU against ~51 us for time.sleep (benchmarks/results/gpu_h100_probe.json);
        # stop() waits at most one interval for the thread.
        interval = self.interval_s
        next_t = time.monotonic() + interval
        while not self._stop.is_set():
            delay = next_t - time.monotonic()
            if delay > 0:
                time.sleep(delay)
                if self._stop.is_set():
                    break
            c0 = time.thread_time()
            self.sweep_once()
            self.cpu_s += time.thread_time() - c0
            next_t += interval
            now = time.monotonic()
            if next_t < now:  # fell behind (a slow read): skip, never burst
                next_t = now + interval


def _model_on_gpu() -> bool | None:
    from infersight.instrument.runtime._device import MODEL_DEVICES

    MODEL_DEVICES.poll()
    return MODEL_DEVICES.on_gpu()


def start_sampler(*, nvml: Any = None, interval_s: float = 0.1, slow_interval_s: float = 1.0,
                  energy_interval_s: float = 10.0, util_interval_s: float = 0.2,
                  devices: Sequence[int] | None = None, pcie: bool = False, registry: Any = None,
                  meter_provider: Any = None, metric_exporter: Any = None,
                  export_interval_s: float | None = None, resource: Any = None) -> GpuSampler:
    """Standalone sampler for processes without a FastAPI app (vLLM EngineCore/Worker).

    Registers the Prometheus collector on ``registry`` when given, and OTel instruments as
    ``install()`` does: with ``metric_exporter`` every sweep is exported; with a MeterProvider
    built by ``configure()`` the GPU series get their own reader every ``export_interval_s``
    (1 s); otherwise they follow ``meter_provider``'s interval (default: the global one).
    Returns the sampler (``.stop()`` to end it); with no GPU it returns a stopped sampler whose
    ``up`` reads 0.
    """
    from infersight.instrument.gpu._plane import make_export
    from infersight.instrument.gpu._prom import GpuCollector

    sampler = GpuSampler(nvml=nvml, interval_s=interval_s, slow_interval_s=slow_interval_s,
                         energy_interval_s=energy_interval_s, util_interval_s=util_interval_s,
                         devices=devices, pcie=pcie)
    if registry is not None:
        registry.register(GpuCollector(sampler))
    export = make_export(sampler, meter_provider, {"metric_exporter": metric_exporter,
                                                   "export_interval_s": export_interval_s,
                                                   "resource": resource})
    sampler.on_stop(export.shutdown)
    if sampler.open():
        export.start()  # full-resolution mode collects after every sweep
        sampler.start()
    return sampler


__all__ = ["GpuSampler", "MAX_INTERVAL_S", "MIN_INTERVAL_S", "check_interval", "start_sampler"]
