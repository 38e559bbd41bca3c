"""Response and embedding caches: an in-process TTL-LRU, Redis when available, single-flight.

``stampede=True`` is the ``cache_stampede`` fault: every entry gets the same TTL aligned to the
wall clock (hot keys written around the same time all expire at the same instant) and
concurrent misses of one key all recompute it. The fixed behaviour jitters TTLs and lets one
caller load a key while the others await its result (single-flight).
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import threading
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

log = logging.getLogger(__name__)


class TTLCache:
    """A thread-safe LRU of at most ``capacity`` entries, each expiring at its own deadline."""

    def __init__(self, capacity: int = 1024, clock: Callable[[], float] = time.time) -> None:
        self.capacity = capacity
        self._clock = clock
        self._data: OrderedDict[str, tuple[float, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> Any | None:
        with self._lock:
            item = self._data.get(key)
            if item is None:
                return None
            if item[0] <= self._clock():
                del self._data[key]
                return None
            self._data.move_to_end(key)
            return item[1]

    def set(self, key: str, value: Any, ttl: float) -> None:
        with self._lock:
            self._data[key] = (self._clock() + ttl, value)
            self._data.move_to_end(key)
            while len(self._data) > self.capacity:
                self._data.popitem(last=False)

    def set_until(self, key: str, value: Any, deadline: float) -> None:
        with self._lock:
            self._data[key] = (deadline, value)
            self._data.move_to_end(key)
            while len(self._data) > self.capacity:
                self._data.popitem(last=False)

    def resize(self, capacity: int) -> None:
        with self._lock:
            self.capacity = capacity
            while len(self._data) > capacity:
                self._data.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()

    def __len__(self) -> int:
        return len(self._data)


class CachePolicy:
    """How entries are written (TTL, jitter, alignment) and whether misses are single-flight."""

    def __init__(self, ttl: float = 6.0, jitter: float = 0.3, *, stampede: bool = False,
                 seed: int = 5, clock: Callable[[], float] = time.time) -> None:
        self.ttl = ttl
        self.jitter = jitter
        self.stampede = stampede
        self._rng = random.Random(seed)
        self._clock = clock
        self._inflight: dict[str, asyncio.Future[Any]] = {}

    def deadline(self) -> float:
        now = self._clock()
        if self.stampede:  # synchronized expiry: the next multiple of the TTL, for every key
            return math.ceil(now / self.ttl) * self.ttl
        return now + self.ttl * (1.0 + self._rng.uniform(-self.jitter, self.jitter))

    async def load(self, key: str, loader: Callable[[], Awaitable[Any]]) -> tuple[Any, bool]:
        """Run ``loader`` for a missed ``key``; returns ``(value, shared)``.

        ``shared`` is True when this caller awaited another caller's load (single-flight).
        """
        if self.stampede:
            return await loader(), False
        fut = self._inflight.get(key)
        if fut is not None:
            return await asyncio.shield(fut), True
        fut = asyncio.get_running_loop().create_future()
        self._inflight[key] = fut
        try:
            value = await loader()
        except BaseException as exc:
            fut.set_exception(exc)
            fut.exception()  # mark retrieved: waiters (if any) re-raise it themselves
            raise
        finally:
            self._inflight.pop(key, None)
        fut.set_result(value)
        return value, False


class RedisCache:
    """The embedding cache in a real Redis (``redis.asyncio``), values as JSON, TTL in ms."""

    def __init__(self, url: str) -> None:
        import redis.asyncio as aioredis

        self.url = url
        self._client = aioredis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0)

    async def get(self, key: str) -> Any | None:
        import json

        try:
            raw = await self._client.get(key)
        except Exception:
            log.warning("redis get failed; treating as a miss", exc_info=True)
            return None
        return None if raw is None else json.loads(raw)

    async def set(self, key: str, value: Any, ttl: float) -> None:
        import json

        try:
            await self._client.set(key, json.dumps(value), px=max(1, int(ttl * 1000)))
        except Exception:
            log.warning("redis set failed; value not cached", exc_info=True)

    async def clear(self) -> None:
        try:
            await self._client.flushdb()
        except Exception:
            log.warning("redis flush failed", exc_info=True)

    async def close(self) -> None:
        await self._client.aclose()


__all__ = ["CachePolicy", "RedisCache", "TTLCache"]
