"""Traced caches: every lookup records ``cache.hit``, a stable key hash and the miss-path latency.

    features = traced_cache("features", ttl_s=60)     # bounded LRU (+TTL) by default, or cache=any mapping
    value = features.get_or_load(key, load_features)   # sync loader (None is not cached unless cache_none)
    value = await features.aget_or_load(key, aload)    # async loader

    get = traced_cache("sessions").observe(redis.get)  # record-only: your get(key) -> value | None
    value = get(key)                                   # a hit when it returned a value

    with features.lookup(key) as lk:                   # record-only, with the miss path timed
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
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Literal, TypeVar

from infersight.instrument._errors import ConfigurationError
from infersight.instrument.helpers._lru import LRU
from infersight.instrument.helpers._sinks import Sinks
from infersight.instrument.http._redact import exception_attributes
from opentelemetry import metrics, trace
from opentelemetry.trace import SpanKind
from prometheus_client import CollectorRegistry

logger = logging.getLogger(__name__)
F = TypeVar("F", bound=Callable[..., Any])
G = TypeVar("G", bound=Callable[..., Any])
_MISSING = object()


def key_hash(key: Any) -> str:
    """A stable 16-hex-digit BLAKE2b hash of a cache key (what spans carry instead of the key)."""
    raw = key if isinstance(key, bytes) else (key if isinstance(key, str) else repr(key)).encode()
    return hashlib.blake2b(raw, digest_size=8).hexdigest()


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
    ``aget_or_load``, a memoizing decorator; or record-only around a cache you already have:
    :meth:`observe` (a ``get(key) -> value | None``), :meth:`lookup` (with the miss path timed),
    :meth:`record` (a lookup you made yourself)."""

    def __init__(self, name: str, *, cache: MutableMapping[Any, Any] | None = None, maxsize: int = 1024,
                 ttl_s: float | None = None, cache_none: bool = False,
                 spans: Literal["all", "misses", "none"] = "all",
                 tracer_provider: trace.TracerProvider | None = None,
                 meter_provider: metrics.MeterProvider | None = None,
                 registry: CollectorRegistry | None = None) -> None:
        if not name or not isinstance(name, str):
            raise ConfigurationError("a traced cache needs a name")
        if spans not in ("all", "misses", "none"):
            raise ConfigurationError(f"spans must be 'all', 'misses' or 'none', got {spans!r}")
        if cache is not None and ttl_s is not None:
            raise ConfigurationError("ttl_s applies to the built-in LRU; a cache= of your own expires its own entries")
        self.name = name
        self.cache: MutableMapping[Any, Any] = cache if cache is not None else LRU(maxsize, ttl_s=ttl_s)
        self.cache_none = cache_none
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

    # -- record-only: a cache you already have ------------------------------------------------
    def observe(self, get: G, *, hit: Callable[[Any], bool] | None = None) -> G:
        """Wrap your cache's own ``get(key, ...) -> value | None`` (sync or async; usable as a
        decorator): every call is recorded as a lookup of its first argument, a hit when it
        returned something other than ``None`` (or when ``hit(value)`` says so). Your cache's
        behaviour (TTL, eviction, what it stores) is untouched; the miss path is not timed (use
        :meth:`lookup` for that)."""
        is_hit = hit if hit is not None else _not_none
        cache = self

        if inspect.iscoroutinefunction(get):
            @functools.wraps(get)
            async def aobserved(key: Any, *args: Any, **kwargs: Any) -> Any:
                t0 = time.perf_counter_ns()
                lk = cache._start(key)
                try:
                    value = await get(key, *args, **kwargs)
                except BaseException as exc:
                    cache._finish(lk, t0, exc)
                    raise
                lk.hit = _checked(is_hit, value)
                cache._finish(lk, t0, None)
                return value

            return aobserved  # type: ignore[return-value]

        @functools.wraps(get)
        def observed(key: Any, *args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter_ns()
            lk = cache._start(key)
            try:
                value = get(key, *args, **kwargs)
            except BaseException as exc:
                cache._finish(lk, t0, exc)
                raise
            lk.hit = _checked(is_hit, value)
            cache._finish(lk, t0, None)
            return value

        return observed  # type: ignore[return-value]

    def record(self, key: Any, *, hit: bool, miss_s: float | None = None) -> None:
        """Record a lookup that already happened (a callback, another thread's result): hit or
        miss, and for a miss how long loading the value took (``miss_s``)."""
        now = time.perf_counter_ns()
        miss_ns = int(max(0.0, float(miss_s)) * 1e9) if (not hit and miss_s) else 0
        lk = self._start(key)
        lk.hit = bool(hit)
        if miss_ns:
            lk._miss_t0 = now - miss_ns
        self._finish(lk, now - miss_ns, None)

    # -- get-or-load ----------------------------------------------------------------------
    def _store(self, key: Any, value: Any) -> None:
        if value is not None or self.cache_none:
            self.cache[key] = value

    def get_or_load(self, key: Any, loader: Callable[[], Any]) -> Any:
        with self.lookup(key) as lk:
            value = self.cache.get(key, _MISSING)
            if value is _MISSING:
                lk.miss()
                value = loader()
                self._store(key, value)
            return value

    async def aget_or_load(self, key: Any, loader: Callable[[], Awaitable[Any]]) -> Any:
        with self.lookup(key) as lk:
            value = self.cache.get(key, _MISSING)
            if value is _MISSING:
                lk.miss()
                value = await loader()
                self._store(key, value)
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


def _not_none(value: Any) -> bool:
    return value is not None


def _checked(is_hit: Callable[[Any], bool], value: Any) -> bool:
    try:
        return bool(is_hit(value))
    except Exception:  # a broken predicate must not fail the lookup
        logger.debug("traced cache: hit() raised; counted as a miss", exc_info=True)
        return False


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
                 ttl_s: float | None = None, cache_none: bool = False,
                 spans: Literal["all", "misses", "none"] = "all",
                 tracer_provider: trace.TracerProvider | None = None,
                 meter_provider: metrics.MeterProvider | None = None,
                 registry: CollectorRegistry | None = None) -> TracedCache:
    """A :class:`TracedCache` named ``name``.

    As a cache of its own (``get_or_load``, ``aget_or_load``, or applied as a memoizing
    decorator) it stores values in ``cache`` (any mutable mapping) or a built-in LRU of
    ``maxsize`` entries that expire after ``ttl_s`` seconds; ``None`` results are not stored
    unless ``cache_none=True``. Around a cache you already have it only records:
    ``traced_cache("sessions").observe(redis.get)`` wraps your ``get(key) -> value | None``;
    ``with traced_cache("sessions").lookup(key) as lk: ... lk.miss()`` also times the miss path.
    Every lookup is an INTERNAL span ``cache.lookup <name>`` (``cache.name``, ``cache.hit``,
    ``cache.key_hash``; ``spans="misses"`` keeps only misses, ``"none"`` none) and counts in
    ``infersight_cache_requests_total{cache,result}``.
    """
    return TracedCache(name, cache=cache, maxsize=maxsize, ttl_s=ttl_s, cache_none=cache_none, spans=spans,
                       tracer_provider=tracer_provider, meter_provider=meter_provider, registry=registry)


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
