"""The bounded, optionally expiring LRU mapping behind ``traced_cache`` and ``lru_cached``."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator, MutableMapping
from typing import Any

from infersight.instrument._errors import ConfigurationError


class LRU(MutableMapping[Hashable, Any]):
    """A small thread-safe bounded LRU mapping (the default backing store of a traced cache).

    ``ttl_s``: entries older than this are gone (a lookup misses and drops them); ``clock``: the
    monotonic clock in seconds (tests inject one).
    """

    def __init__(self, maxsize: int = 1024, *, ttl_s: float | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if isinstance(maxsize, bool) or not isinstance(maxsize, int) or maxsize < 1:
            raise ConfigurationError(f"maxsize must be an int >= 1, got {maxsize!r}")
        if ttl_s is not None and (isinstance(ttl_s, bool) or not isinstance(ttl_s, (int, float)) or not ttl_s > 0):
            raise ConfigurationError(f"ttl_s must be a number of seconds > 0, got {ttl_s!r}")
        self.maxsize = maxsize
        self.ttl_s = ttl_s
        self._clock = clock
        self._data: OrderedDict[Hashable, tuple[Any, float]] = OrderedDict()
        self._lock = threading.Lock()

    def __getitem__(self, key: Hashable) -> Any:
        with self._lock:
            value, expires = self._data[key]
            if self.ttl_s is not None and self._clock() >= expires:
                del self._data[key]
                raise KeyError(key)
            self._data.move_to_end(key)
            return value

    def __setitem__(self, key: Hashable, value: Any) -> None:
        expires = self._clock() + self.ttl_s if self.ttl_s is not None else 0.0
        with self._lock:
            self._data[key] = (value, expires)
            self._data.move_to_end(key)
            while len(self._data) > self.maxsize:
                self._data.popitem(last=False)

    def __delitem__(self, key: Hashable) -> None:
        with self._lock:
            del self._data[key]

    def __iter__(self) -> Iterator[Hashable]:
        return iter(list(self._data))

    def __len__(self) -> int:
        return len(self._data)


__all__ = ["LRU"]
