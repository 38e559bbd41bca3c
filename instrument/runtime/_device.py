"""Where the model runs: the device a model serves on, declared by the app or read from torch.

``declare_model_device(model_or_device, name=...)`` records the device of one model: a string
("cuda:0", "cpu"), a ``torch.device``, or a module/pipeline whose parameters (or ``.device``)
say where it lives; a module is kept by weak reference and re-read whenever telemetry polls
(metric collection, the GPU sampler's slow tick), so a model moved to the CPU mid-run is seen.
Every change (the first declaration included) is emitted as a root span
``infersight.model.device_change`` (exact time) and reflected in the ``infersight_model_device``
gauge; a move off the GPU is logged at WARNING.

``torch.cuda.is_available()`` is read only when torch is already imported (never imported here).
"""

from __future__ import annotations

import logging
import sys
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from infersight.instrument._errors import ConfigurationError
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import SpanKind

logger = logging.getLogger(__name__)

_ROOT = Context()
CHANGE_SPAN = "infersight.model.device_change"
_SCOPE = "infersight.instrument"


@dataclass(frozen=True)
class ModelDevice:
    """One declared model: ``device`` like "cuda:0" or "cpu", ``type`` its part before ':'."""

    name: str
    device: str
    source: str  # "declared" (a device value) | "module" (read from the model's parameters)

    @property
    def type(self) -> str:
        return self.device.split(":", 1)[0]

    @property
    def on_gpu(self) -> bool:
        return self.type in ("cuda", "hip", "xpu")


def _normalise(device: Any) -> str:
    text = str(device).strip().lower()
    if not text:
        raise ConfigurationError("empty device")
    return "cuda:0" if text == "cuda" else text


def _device_of(target: Any) -> tuple[str, bool]:
    """(device, is_module): a device value, or a model whose parameters/``.device`` tell it."""
    if isinstance(target, str) or type(target).__name__ == "device":
        return _normalise(target), False
    params = getattr(target, "parameters", None)
    if callable(params):
        for p in params():
            return _normalise(p.device), True
        buffers = getattr(target, "buffers", None)
        if callable(buffers):
            for b in buffers():
                return _normalise(b.device), True
    dev = getattr(target, "device", None)
    if dev is not None:
        return _normalise(dev), True
    raise ConfigurationError(f"cannot tell the device of {type(target).__name__!r}: pass a device string "
                     "('cuda:0', 'cpu'), a torch.device, or a model with parameters or .device")


def torch_cuda_available() -> bool | None:
    """``torch.cuda.is_available()`` when torch is already imported, else None (unknown)."""
    torch = sys.modules.get("torch")
    cuda = getattr(torch, "cuda", None) if torch is not None else None
    fn = getattr(cuda, "is_available", None)
    if fn is None:
        return None
    try:
        return bool(fn())
    except Exception:  # a broken CUDA install: that is the fact
        return False


Listener = Callable[[ModelDevice, str], None]


class ModelDevices:
    """The process's declared models (one per name); thread-safe; ``poll()`` re-reads modules."""

    def __init__(self, *, clock: Callable[[], int] = time.time_ns) -> None:
        self._lock = threading.Lock()
        self._models: dict[str, ModelDevice] = {}
        self._refs: dict[str, Callable[[], Any]] = {}
        self._listeners: list[Listener] = []
        self._tracer_provider: Any = None
        self._clock = clock
        self.changes = 0

    # --- wiring -------------------------------------------------------------------------
    def bind(self, tracer_provider: Any) -> Any:
        """Where change spans go (``instrument_app`` binds its provider; default: the global);
        returns the provider bound before."""
        previous, self._tracer_provider = self._tracer_provider, tracer_provider
        return previous

    def add_listener(self, fn: Listener) -> None:
        """``fn(new, previous_device)`` after every change (the GPU plane's ledger listens)."""
        with self._lock:
            self._listeners.append(fn)

    def remove_listener(self, fn: Listener) -> None:
        with self._lock:
            if fn in self._listeners:
                self._listeners.remove(fn)

    # --- state --------------------------------------------------------------------------
    def declare(self, target: Any, name: str = "model") -> str:
        device, is_module = _device_of(target)
        ref: Callable[[], Any] | None = None
        if is_module:
            try:
                ref = weakref.ref(target)
            except TypeError:
                obj = target
                ref = lambda: obj  # noqa: E731  (not weak-referenceable: keep it)
        self._set(ModelDevice(str(name), device, "module" if is_module else "declared"), ref)
        return device

    def forget(self, name: str) -> None:
        with self._lock:
            self._models.pop(name, None)
            self._refs.pop(name, None)

    def snapshot(self) -> tuple[ModelDevice, ...]:
        with self._lock:
            return tuple(self._models.values())

    def poll(self) -> tuple[ModelDevice, ...]:
        """Re-read every model declared as a module; emits changes; returns the snapshot."""
        with self._lock:
            refs = list(self._refs.items())
        for name, ref in refs:
            target = ref()
            if target is None:
                continue
            try:
                device, _ = _device_of(target)
            except Exception:
                continue
            current = self._models.get(name)
            if current is None or current.device != device:
                self._set(ModelDevice(name, device, "module"), ref)
        return self.snapshot()

    def on_gpu(self) -> bool | None:
        """False when every declared model is off the GPU (or torch says CUDA is unavailable and
        nothing was declared), True when one is on it, None when nothing is known."""
        models = self.snapshot()
        if models:
            return any(m.on_gpu for m in models)
        return False if torch_cuda_available() is False else None

    def _set(self, new: ModelDevice, ref: Callable[[], Any] | None) -> None:
        with self._lock:
            old = self._models.get(new.name)
            self._models[new.name] = new
            if ref is not None:
                self._refs[new.name] = ref
            else:
                self._refs.pop(new.name, None)
            if old is not None and old.device == new.device:
                return
            self.changes += 1
            listeners = list(self._listeners)
        previous = old.device if old is not None else ""
        self._emit(new, previous)
        for fn in listeners:
            try:
                fn(new, previous)
            except Exception:
                logger.debug("model device listener failed", exc_info=True)

    def _emit(self, new: ModelDevice, previous: str) -> None:
        level = logging.WARNING if previous and not new.on_gpu and previous.split(":")[0] in (
            "cuda", "hip", "xpu") else logging.INFO
        logger.log(level, "infersight: model %r serves on %s%s", new.name, new.device,
                   f" (was {previous})" if previous else "")
        try:
            tp = self._tracer_provider or trace.get_tracer_provider()
            tracer = tp.get_tracer(_SCOPE)
            t = self._clock()
            attrs: dict[str, Any] = {"infersight.model.name": new.name,
                                     "infersight.model.device": new.device,
                                     "infersight.model.device.type": new.type,
                                     "infersight.model.device.previous": previous,
                                     "infersight.model.device.source": new.source}
            available = torch_cuda_available()
            if available is not None:
                attrs["infersight.torch.cuda.available"] = available
            span = tracer.start_span(CHANGE_SPAN, context=_ROOT, kind=SpanKind.INTERNAL,
                                     start_time=t, attributes=attrs)
            span.end(end_time=t)
        except Exception:  # telemetry never fails the caller
            logger.debug("could not emit the model device change span", exc_info=True)


MODEL_DEVICES = ModelDevices()


def declare_model_device(model_or_device: Any, *, name: str = "model") -> str:
    """Tell infersight where a model serves: ``declare_model_device(model, name="llm")`` after
    loading it (a torch module, a pipeline with ``.device``), or a device such as ``"cuda:0"`` /
    ``"cpu"`` / ``torch.device(...)``. Call again when the model moves (a CPU fallback); a module
    is also re-read on every telemetry poll. Returns the device string ("cuda:0", "cpu").

    The GPU plane bills no GPU energy or GPU-seconds to requests while every declared model is
    off the GPU. Raises ``ValueError`` only for a value that names no device.
    """
    return MODEL_DEVICES.declare(model_or_device, name=name)


__all__ = ["CHANGE_SPAN", "MODEL_DEVICES", "ModelDevice", "ModelDevices", "declare_model_device",
           "torch_cuda_available"]
