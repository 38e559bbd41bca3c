"""An in-process TTL map used as the store of infersight's ``traced_cache("features")``.

An entry is stale ``ttl_s`` after it was written (checked on read, so a shorter ``ttl_s``
expires old entries at once: the cold-cache fault). ``align_s`` (cache-stampede fault) also
expires every entry at each multiple of ``align_s``, so hot keys expire together; nothing
de-duplicates concurrent loads of one key (no single-flight), as in many services.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterator, MutableMapping
from typing import Any


class TTLMap(MutableMapping[Any, Any]):
    def __init__(self, ttl_s: float, *, clock: Callable[[], float] = time.time) -> None:
        self.ttl_s = ttl_s
        self.align_s: float | None = None
        self._clock = clock
        self._data: dict[Any, tuple[float, Any]] = {}
        self._lock = threading.Lock()

    def _stale(self, written: float, now: float) -> bool:
        if now - written >= self.ttl_s:
            return True
        align = self.align_s
        return align is not None and align > 0 and math.floor(written / align) < math.floor(now / align)

    def __getitem__(self, key: Any) -> Any:
        with self._lock:
            written, value = self._data[key]
            if self._stale(written, self._clock()):
                del self._data[key]
                raise KeyError(key)
            return value

    def __setitem__(self, key: Any, value: Any) -> None:
        with self._lock:
            self._data[key] = (self._clock(), value)

    def __delitem__(self, key: Any) -> None:
        with self._lock:
            del self._data[key]

    def __iter__(self) -> Iterator[Any]:
        with self._lock:
            return iter(list(self._data))

    def __len__(self) -> int:
        return len(self._data)

    def flush(self) -> None:
        with self._lock:
            self._data.clear()


__all__ = ["TTLMap"]
