"""One NVML sweep over every device, each value read in isolation.

A call that fails with NotSupported (or a missing function) drops that field for that device
only, logged once; a lost device stops being read; the library going away (driver reload,
NVML uninitialized) raises :class:`LibraryGone` so the sampler can re-initialise later.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from infersight.instrument.gpu._fields import (
    ENERGY,
    FAST,
    MIG_FAST,
    MIG_SLOW,
    MIG_UTIL,
    PCIE,
    SLOW,
    STATIC,
    UTIL,
    Field,
    Values,
)
from infersight.instrument.gpu._nvml import NvmlApi
from infersight.instrument.gpu._procutil import ProcessUtil
from infersight.instrument.gpu._shares import Share, derive, process_name
from infersight.instrument.gpu._types import DeviceSample

log = logging.getLogger(__name__)


class LibraryGone(Exception):
    """NVML itself stopped working (driver unloaded/reloaded, uninitialised)."""


class _DeviceLost(Exception):
    pass


@dataclass
class _Device:
    handle: Any
    label: str
    uuid: str
    name: str
    parent: str | None
    fast: list[Field]
    slow: list[Field]
    energy: list[Field] = field(default_factory=list)
    util: list[Field] = field(default_factory=list)
    primed: bool = False  # every tier read once (a new or re-discovered device has no values yet)
    values: Values = field(default_factory=dict)
    processes: tuple[tuple[int, int], ...] | None = None
    xid_counts: dict[int, int] = field(default_factory=dict)
    lost: bool = False
    putil: ProcessUtil = field(default_factory=ProcessUtil)
    process_util: tuple[tuple[int, float], ...] | None = None
    names: tuple[tuple[int, str], ...] = ()
    share: Share | None = None
    share_key: tuple[Any, ...] = ()


def _text(x: Any) -> str:
    return x.decode() if isinstance(x, bytes) else str(x)


class NvmlReader:
    """Discovers devices once (and again after a driver reload) and reads them on demand."""

    def __init__(self, api: NvmlApi, *, devices: Sequence[int] | None = None,
                 pcie: bool = False, self_pids: frozenset[int] = frozenset()) -> None:
        self.api = api
        self.pcie = pcie
        self.self_pids = self_pids
        self.on_gpu: bool | None = None  # is this process's model on a GPU (set by the sampler)
        self._names: dict[int, str] = {}
        self.wanted = None if devices is None else set(devices)
        self.devices: list[_Device] = []
        self.driver_version = ""
        self.read_errors: dict[tuple[str, str], int] = {}
        self._logged: set[tuple[str, str, int | None]] = set()
        self._events: Any = None
        self._by_uuid: dict[str, _Device] = {}

    # --- lifecycle ------------------------------------------------------------------------
    def open(self) -> None:
        """nvmlInit + discovery; raises the NVML error (or LibraryGone) when that fails."""
        n = self.api.nvml
        n.nvmlInit()
        try:
            self.driver_version = _text(n.nvmlSystemGetDriverVersion())
        except Exception:
            self.driver_version = ""
        self.devices = []
        for i in range(int(n.nvmlDeviceGetCount())):
            if self.wanted is not None and i not in self.wanted:
                continue
            h = n.nvmlDeviceGetHandleByIndex(i)
            dev = _Device(h, str(i), self._ident(n.nvmlDeviceGetUUID, h, f"gpu-{i}"),
                          self._ident(n.nvmlDeviceGetName, h, "unknown"), None,
                          list(FAST), [*SLOW, PCIE] if self.pcie else list(SLOW), list(ENERGY), list(UTIL))
            try:
                self._read_fields(dev, list(STATIC))
            except _DeviceLost:
                pass
            self.devices.append(dev)
            self.devices.extend(self._mig_children(dev))
        self._by_uuid = {d.uuid: d for d in self.devices}
        self._open_events()

    def close(self) -> None:
        n = self.api.nvml
        if self._events is not None:
            try:
                n.nvmlEventSetFree(self._events)
            except Exception:
                pass
            self._events = None
        try:
            n.nvmlShutdown()
        except Exception:
            pass
        self.devices = []

    def _ident(self, fn: Callable[[Any], Any], h: Any, default: str) -> str:
        try:
            return _text(fn(h))
        except Exception:
            return default

    def _mig_children(self, dev: _Device) -> list[_Device]:
        n = self.api.nvml
        try:
            current, _pending = n.nvmlDeviceGetMigMode(dev.handle)
            if current != getattr(n, "NVML_DEVICE_MIG_ENABLE", 1):
                return []
            count = int(n.nvmlDeviceGetMaxMigDeviceCount(dev.handle))
        except Exception:
            return []  # not a MIG-capable device, or MIG off
        out: list[_Device] = []
        for j in range(count):
            try:
                h = n.nvmlDeviceGetMigDeviceHandleByIndex(dev.handle, j)
            except Exception:
                continue  # empty slot (NotFound)
            label = f"{dev.label}/mig{j}"
            out.append(_Device(h, label, self._ident(n.nvmlDeviceGetUUID, h, f"mig-{label}"),
                               dev.name, dev.label, list(MIG_FAST), list(MIG_SLOW), [], list(MIG_UTIL)))
        return out

    def _open_events(self) -> None:
        n = self.api.nvml
        kind = getattr(n, "nvmlEventTypeXidCriticalError", None)
        if kind is None:
            return
        try:
            es = n.nvmlEventSetCreate()
        except Exception:
            return
        registered = 0
        for dev in self.devices:
            if dev.parent is None:
                try:
                    n.nvmlDeviceRegisterEvents(dev.handle, kind, es)
                    registered += 1
                except Exception as exc:
                    self._once(dev.label, "xid_events", exc, logging.INFO)
        if registered:
            self._events = es
        else:
            try:
                n.nvmlEventSetFree(es)
            except Exception:
                pass

    # --- reading --------------------------------------------------------------------------
    def read(self, slow: bool, energy: bool = False, util: bool = True) -> list[DeviceSample]:
        """Read every device (the FAST fields always, the other tiers when due; a tier not due
        keeps its last values); raises :class:`LibraryGone` when NVML itself is gone."""
        out: list[DeviceSample] = []
        if slow and self._events is not None:
            self._poll_events()
        for dev in self.devices:
            if dev.lost:
                continue
            try:
                first = not dev.primed
                self._read_fields(dev, dev.fast)
                if util or first:
                    self._read_fields(dev, dev.util)
                if slow or first:
                    self._read_fields(dev, dev.slow)
                    if dev.parent is None:
                        self._read_shares(dev)
                if energy or first:
                    self._read_fields(dev, dev.energy)
                dev.primed = True
            except _DeviceLost:
                continue
            if dev.parent is None:
                self._derive(dev)
            out.append(DeviceSample(dev.label, dev.uuid, dev.name, dev.parent, dict(dev.values),
                                    int(dev.values["reasons"]) if "reasons" in dev.values else None,
                                    dev.processes, dict(dev.xid_counts), dev.share,
                                    dev.process_util, dev.names))
        return out

    # --- who uses the device ----------------------------------------------------------------
    def _pids(self, dev: _Device) -> tuple[int, ...] | None:
        return None if dev.processes is None else tuple(p for p, _ in dev.processes)

    def _read_shares(self, dev: _Device) -> None:
        """Per-process utilisation (when another process holds a context) and process names."""
        procs = self._pids(dev)
        err = dev.putil.update(self.api, dev.handle, procs, self.self_pids)
        if err is not None:
            self._count(dev.label, "process_utilization")
            what = "read failed (transient)" if dev.putil.supported else \
                "not supported; shares fall back to the device utilisation"
            self._once(dev.label, "process_utilization", err, logging.INFO, what)
        shares = dev.putil.shares
        dev.process_util = None if shares is None else tuple(sorted(shares.items()))
        pids = set(procs or ()) | set(shares or ())
        if len(self._names) > 512:
            self._names.clear()
        for pid in pids:
            if pid not in self._names:
                self._names[pid] = process_name(pid)
        dev.names = tuple((pid, self._names[pid]) for pid in sorted(pids))

    def _derive(self, dev: _Device) -> None:
        util = dev.values.get("util_gpu", 0.0)
        key = (util, dev.process_util, dev.processes, self.on_gpu)
        if key == dev.share_key and dev.share is not None:
            return
        procs = self._pids(dev)
        dev.share = derive(util, procs, dev.putil.shares, self.self_pids, self.on_gpu)
        dev.share_key = key
        if self.on_gpu and procs and not self.self_pids.intersection(procs):
            self._once(dev.label, "self_pid", RuntimeError(f"compute processes {list(procs)}"),
                       logging.WARNING,
                       f"this process (pids {sorted(self.self_pids)}) is not among the GPU's compute "
                       "processes (a container's pid namespace?); its share falls back to the "
                       "whole device: pass GpuOptions(self_pids=[...]) to split it")

    def _read_fields(self, dev: _Device, fields: list[Field]) -> None:
        api, n, v = self.api, self.api.nvml, dev.values
        for f in tuple(fields):
            try:
                f.fn(n, dev.handle, v)
            except api.error as exc:
                code = api.code(exc)
                if code in api.library_gone:
                    raise LibraryGone(str(exc)) from exc
                self._count(dev.label, f.name)
                for k in f.keys:
                    v.pop(k, None)
                if code in api.device_lost:
                    dev.lost = True
                    v.clear()
                    self._once(dev.label, "*", exc, logging.WARNING, "device lost; no longer read")
                    raise _DeviceLost from exc
                if code in api.unsupported:
                    self._drop(dev, fields, f, exc)
                else:
                    self._once(dev.label, f.name, exc, logging.INFO, "read failed (transient)")
            except Exception as exc:  # not an NVMLError: a missing function, a bad return
                self._count(dev.label, f.name)
                for k in f.keys:
                    v.pop(k, None)
                self._drop(dev, fields, f, exc)
        if "_procs" in v:
            procs = v.pop("_procs")
            dev.processes = tuple(
                (int(p.pid), int(p.usedGpuMemory or 0)) for p in procs  # type: ignore[attr-defined]
            )

    def _drop(self, dev: _Device, fields: list[Field], f: Field, exc: BaseException) -> None:
        idx = fields.index(f)
        if f.fallback is not None:
            fields[idx] = f.fallback  # e.g. memory info v1 (no reserved), averaged power
        else:
            fields.pop(idx)
        if f.name == "processes":
            dev.processes = None
        what = "not supported; using the fallback" if f.fallback else "not supported; field dropped"
        self._once(dev.label, f.name, exc, logging.INFO, what)

    def _poll_events(self) -> None:
        n, api = self.api.nvml, self.api
        for _ in range(64):  # bounded: never spin on an event storm
            try:
                data = n.nvmlEventSetWait_v2(self._events, 0)
            except api.error as exc:
                if api.code(exc) in api.library_gone:
                    raise LibraryGone(str(exc)) from exc
                return  # Timeout: no event pending
            except Exception:
                return
            try:
                uuid = _text(n.nvmlDeviceGetUUID(data.device))
            except Exception:
                uuid = ""
            dev = self._by_uuid.get(uuid)
            if dev is not None:
                xid = int(data.eventData)
                dev.xid_counts[xid] = dev.xid_counts.get(xid, 0) + 1
                log.warning("GPU %s: XID %d reported by NVML", dev.label, xid)

    def _count(self, label: str, name: str) -> None:
        key = (label, name)
        self.read_errors[key] = self.read_errors.get(key, 0) + 1

    def _once(self, label: str, name: str, exc: BaseException, level: int, what: str = "") -> None:
        key = (label, name, self.api.code(exc))
        if key not in self._logged:
            self._logged.add(key)
            log.log(level, "GPU %s: NVML %s: %s (%r)", label, name, what, exc)


__all__ = ["ENERGY", "FAST", "PCIE", "SLOW", "STATIC", "Field", "LibraryGone", "NvmlReader"]
