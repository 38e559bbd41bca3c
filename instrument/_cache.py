"""Traced caches: every lookup records ``cache.hit``, a stable key hash and the miss-path latency.

    features = traced_cache("features")               # bounded LRU by default, or cache=any mapping
    value = features.get_or_load(key, load_features)   # sync loader
    value = await features.aget_or_load(key, aload)    # async loader

    with features.lookup(key) as lk:                   # your own cache (Redis, ...)
        value = redis.get(key)
        if value is None:
            lk.miss()                                  # starts the miss-path clock
            value = load(); redis.set(key, value)

    @lru_cached("embeddings", maxsize=4096)            # functools.lru_cache-style, sync or async
    def embed(text): ...

Each lookup is an INTERNAL span ``cache.lookup <name>`` (``spans="misses"`` keeps only misses,
``"none"`` none) plus ``infersight_cache_requests_total{cache,result}`` and the miss-duration
histogram. Key hashes are BLAKE2b of the key's repr: stable across processes, never the key.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable, MutableMapping
from typing import Any, Literal, TypeVar

from infersight.instrument._errors import ConfigurationError
from infersight.instrument._providers import Sinks
from infersight.instrument._redact import exception_attributes
from opentelemetry import metrics, trace
from opentelemetry.trace import SpanKind
from prometheus_client import CollectorRegistry

logger = logging.getLogger(__name__)
F = TypeVar("F", bound=Callable[..., Any])
_MISSING = object()


def key_hash(key: Any) -> str:
    """A stable 16-hex-digit BLAKE2b hash of a cache key (what spans carry instead of the key)."""
    raw = key if isinstance(key, bytes) else (key if isinstance(key, str) else repr(key)).encode()
    return hashlib.blake2b(raw, digest_size=8).hexdigest()


class LRU(MutableMapping[Hashable, Any]):
    """A small thread-safe bounded LRU mapping (the default backing store)."""

    def __init__(self, maxsize: int = 1024) -> None:
        if maxsize < 1:
            raise ConfigurationError("maxsize must be >= 1")
        self.maxsize = maxsize
        self._data: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()

    def __getitem__(self, key: Hashable) -> Any:
        with self._lock:
            value = self._data[key]
            self._data.move_to_end(key)
            return value

    def __setitem__(self, key: Hashable, value: Any) -> None:
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self.maxsize:
                self._data.popitem(last=False)

    def __delitem__(self, key: Hashable) -> None:
        with self._lock:
            del self._data[key]

    def __iter__(self) -> Any:
        return iter(list(self._data))

    def __len__(self) -> int:
        return len(self._data)


class Lookup:
    """One lookup in progress (see :meth:`TracedCache.lookup`)."""

    __slots__ = ("key", "hit", "_miss_t0", "span")

    def __init__(self, key: Any, span: Any) -> None:
        self.key = key
        self.hit = True
        self._miss_t0: int | None = None
        self.span = span

    def miss(self) -> None:
        self.hit = False
        self._miss_t0 = time.perf_counter_ns()


class TracedCache:
    """A cache whose lookups are traced (see :func:`traced_cache`): ``get_or_load``,
    ``aget_or_load``, ``lookup`` for your own cache, or use it as a memoizing decorator."""

    def __init__(self, name: str, *, cache: MutableMapping[Any, Any] | None = None, maxsize: int = 1024,
                 spans: Literal["all", "misses", "none"] = "all",
                 tracer_provider: trace.TracerProvider | None = None,
                 meter_provider: metrics.MeterProvider | None = None,
                 registry: CollectorRegistry | None = None) -> None:
        if not name:
            raise ConfigurationError("a traced cache needs a name")
        if spans not in ("all", "misses", "none"):
            raise ConfigurationError(f"spans must be 'all', 'misses' or 'none', got {spans!r}")
        self.name = name
        self.cache: MutableMapping[Any, Any] = cache if cache is not None else LRU(maxsize)
        self.spans = spans
        self._sinks = Sinks(tracer_provider, meter_provider, registry)
        self._span_name = f"cache.lookup {name}"
        self._attr_hit = {"cache.name": name, "cache.result": "hit"}
        self._attr_miss = {"cache.name": name, "cache.result": "miss"}
        self._attr_name = {"cache.name": name}

    # -- the recorder ---------------------------------------------------------------------
    def lookup(self, key: Any) -> _LookupContext:
        return _LookupContext(self, key)

    def _start(self, key: Any) -> Lookup:
        span = None
        if self.spans == "all":
            span = self._sinks.tracer.start_span(self._span_name, kind=SpanKind.INTERNAL,
                                                 attributes=self._attr_name)
        lk = Lookup(key, span)
        lk._miss_t0 = None
        return lk

    def _finish(self, lk: Lookup, t0: int, exc: BaseException | None) -> None:
        try:
            now = time.perf_counter_ns()
            miss_s = (now - lk._miss_t0) / 1e9 if (not lk.hit and lk._miss_t0 is not None) else None
            span = lk.span
            if span is None and not lk.hit and self.spans == "misses":
                span = self._sinks.tracer.start_span(
                    self._span_name, kind=SpanKind.INTERNAL, attributes=self._attr_name,
                    start_time=time.time_ns() - (now - t0))
            if span is not None:
                span.set_attribute("cache.hit", lk.hit)
                span.set_attribute("cache.key_hash", key_hash(lk.key))
                if miss_s is not None:
                    span.set_attribute("infersight.cache.miss_ms", miss_s * 1e3)
                if exc is not None:
                    span.record_exception(exc, attributes=exception_attributes(exc))
                    span.set_status(trace.Status(trace.StatusCode.ERROR, type(exc).__name__))
                span.end()
            prom, otel = self._sinks.prom, self._sinks.otel
            prom["infersight_cache_requests"].labels(self.name, "hit" if lk.hit else "miss").inc()
            otel.cache_requests.add(1, self._attr_hit if lk.hit else self._attr_miss)
            if miss_s is not None:
                prom["infersight_cache_miss_duration_seconds"].labels(self.name).observe(miss_s)
                otel.cache_miss_duration.record(miss_s, self._attr_name)
        except Exception:
            logger.warning("traced cache %r: recording failed", self.name, exc_info=True)

    # -- get-or-load ----------------------------------------------------------------------
    def get_or_load(self, key: Any, loader: Callable[[], Any]) -> Any:
        with self.lookup(key) as lk:
            value = self.cache.get(key, _MISSING)
            if value is _MISSING:
                lk.miss()
                value = loader()
                self.cache[key] = value
            return value

    async def aget_or_load(self, key: Any, loader: Callable[[], Awaitable[Any]]) -> Any:
        with self.lookup(key) as lk:
            value = self.cache.get(key, _MISSING)
            if value is _MISSING:
                lk.miss()
                value = await loader()
                self.cache[key] = value
            return value

    def __call__(self, func: F) -> F:
        """Memoize ``func`` in this cache (keys: positional args + sorted keyword args)."""
        cache = self

        def make_key(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
            if kwargs:
                return (*args, _KW, *sorted(kwargs.items()))
            return args[0] if len(args) == 1 else args

        if inspect.iscoroutinefunction(func):
            @functools.wraps(func)
            async def awrapper(*args: Any, **kwargs: Any) -> Any:
                return await cache.aget_or_load(make_key(args, kwargs), lambda: func(*args, **kwargs))

            awrapper.cache = cache  # type: ignore[attr-defined]
            return awrapper  # type: ignore[return-value]

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            return cache.get_or_load(make_key(args, kwargs), lambda: func(*args, **kwargs))

        wrapper.cache = cache  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]


_KW = object()


class _LookupContext:
    __slots__ = ("_cache", "_key", "_lk", "_t0", "_token")

    def __init__(self, cache: TracedCache, key: Any) -> None:
        self._cache = cache
        self._key = key

    def __enter__(self) -> Lookup:
        self._t0 = time.perf_counter_ns()
        self._lk = self._cache._start(self._key)
        self._token = None
        if self._lk.span is not None:
            from opentelemetry import context

            self._token = context.attach(trace.set_span_in_context(self._lk.span))
        return self._lk

    def __exit__(self, et: Any, exc: BaseException | None, tb: Any) -> None:
        if self._token is not None:
            from opentelemetry import context

            context.detach(self._token)
        self._cache._finish(self._lk, self._t0, exc)


def traced_cache(name: str, *, cache: MutableMapping[Any, Any] | None = None, maxsize: int = 1024,
                 spans: Literal["all", "misses", "none"] = "all",
                 tracer_provider: trace.TracerProvider | None = None,
                 meter_provider: metrics.MeterProvider | None = None,
                 registry: CollectorRegistry | None = None) -> TracedCache:
    """A :class:`TracedCache`: use its methods, or apply it as a memoizing decorator."""
    return TracedCache(name, cache=cache, maxsize=maxsize, spans=spans, tracer_provider=tracer_provider,
                       meter_provider=meter_provider, registry=registry)


def lru_cached(name: str, maxsize: int = 128, **kwargs: Any) -> Callable[[F], F]:
    """``functools.lru_cache``-style decorator whose lookups are traced (sync or async functions).

        @lru_cached("embeddings", maxsize=10_000)
        async def embed(text: str) -> list[float]: ...

    The cache is keyed by the call's arguments (which must be hashable) and evicts the least
    recently used entry past ``maxsize``. Every lookup counts in
    ``infersight_cache_requests_total{cache, result="hit"|"miss"}`` and is an INTERNAL span
    ``cache.lookup <name>`` with ``cache.hit`` and ``cache.key_hash`` (a hash, never the key;
    ``spans="misses"`` keeps only the misses' spans, ``"none"`` none); a miss (the call itself)
    is timed in ``infersight_cache_miss_duration_seconds``. The analysis reads them for
    ``cache_miss_storm`` and ``cache_stampede``. ``kwargs`` go to :func:`traced_cache`
    (``spans``, ``tracer_provider``, ``meter_provider``, ``registry``).
    """
    return traced_cache(name, maxsize=maxsize, **kwargs)


__all__ = ["traced_cache", "lru_cached", "TracedCache", "Lookup", "LRU", "key_hash"]
