"""A bounded connection pool usable from asyncio handlers and from worker threads alike.

Waiters of both kinds queue FIFO; a released connection goes straight to the oldest waiter.
``resize()`` shrinks or grows the pool at run time (the ``pool_exhaustion`` fault). The wait
is traced from outside, by the caller (``traced_pool_acquire`` around ``acquire``).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

from infersight.demo._errors import DemoConfigError, PoolTimeout

log = logging.getLogger(__name__)


class _ThreadWaiter:
    __slots__ = ("conn", "event", "cancelled")

    def __init__(self) -> None:
        self.conn: Any = None
        self.event = threading.Event()
        self.cancelled = False


class ConnectionPool:
    """``size`` connections made by ``factory`` on demand; ``acquire`` waits up to ``timeout`` s."""

    def __init__(self, factory: Callable[[], Any], *, size: int = 4, timeout: float = 2.0,
                 name: str = "payments_db") -> None:
        if size < 1:
            raise DemoConfigError("pool size must be >= 1")
        self.name = name
        self.timeout = timeout
        self._factory = factory
        self._size = size
        self._lock = threading.Lock()
        self._idle: deque[Any] = deque()
        self._waiters: deque[Any] = deque()  # _ThreadWaiter | (loop, future)
        self._open = 0
        self.in_use = 0

    @property
    def size(self) -> int:
        return self._size

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    def resize(self, size: int) -> None:
        if size < 1:
            raise DemoConfigError("pool size must be >= 1")
        with self._lock:
            self._size = size
            while self._idle and self._open > size:
                self._close(self._idle.popleft())
        for _ in range(size):  # wake waiters that a larger pool can now serve
            self._serve_waiter()

    def _close(self, conn: Any) -> None:
        self._open -= 1
        try:
            conn.close()
        except Exception:
            log.debug("closing a pooled connection failed", exc_info=True)

    def _take_now(self) -> Any:
        """Under the lock: an idle or new connection, or None when the pool is exhausted."""
        while self._waiters and self._dead(self._waiters[0]):
            self._waiters.popleft()
        if self._waiters:  # FIFO: never overtake a live waiter
            return None
        if self._idle:
            self.in_use += 1
            return self._idle.popleft()
        if self._open < self._size:
            self._open += 1
            self.in_use += 1
            return _Pending
        return None

    def _materialize(self, conn: Any) -> Any:
        if conn is _Pending:
            try:
                return self._factory()
            except Exception:
                with self._lock:
                    self._open -= 1
                    self.in_use -= 1
                raise
        return conn

    # --- blocking (threads) ---------------------------------------------------------------
    def acquire(self, timeout: float | None = None) -> Any:
        timeout = self.timeout if timeout is None else timeout
        with self._lock:
            conn = self._take_now()
            waiter = None
            if conn is None:
                waiter = _ThreadWaiter()
                self._waiters.append(waiter)
        if waiter is not None:
            if not waiter.event.wait(timeout):
                with self._lock:
                    if waiter.conn is None:
                        waiter.cancelled = True
                        raise PoolTimeout(f"no connection from pool {self.name!r} within {timeout:g}s")
            conn = waiter.conn
        return self._materialize(conn)

    @contextmanager
    def connection(self, timeout: float | None = None) -> Iterator[Any]:
        conn = self.acquire(timeout)
        try:
            yield conn
        finally:
            self.release(conn)

    # --- asyncio --------------------------------------------------------------------------
    async def acquire_async(self, timeout: float | None = None) -> Any:
        timeout = self.timeout if timeout is None else timeout
        loop = asyncio.get_running_loop()
        with self._lock:
            conn = self._take_now()
            fut: asyncio.Future[Any] | None = None
            if conn is None:
                fut = loop.create_future()
                self._waiters.append((loop, fut))
        if fut is not None:
            try:
                conn = await asyncio.wait_for(fut, timeout)
            except asyncio.TimeoutError:
                raise PoolTimeout(f"no connection from pool {self.name!r} within {timeout:g}s") from None
        return self._materialize(conn)

    @asynccontextmanager
    async def connection_async(self, timeout: float | None = None) -> AsyncIterator[Any]:
        conn = await self.acquire_async(timeout)
        try:
            yield conn
        finally:
            self.release(conn)

    # --- release --------------------------------------------------------------------------
    def release(self, conn: Any) -> None:
        with self._lock:
            self.in_use -= 1
            if self._open > self._size:
                self._close(conn)
                return
            self._idle.append(conn)
        self._serve_waiter()

    def _serve_waiter(self) -> None:
        with self._lock:
            while self._waiters:
                if not self._idle and self._open >= self._size:
                    return
                waiter = self._waiters.popleft()
                if isinstance(waiter, _ThreadWaiter):
                    if waiter.cancelled:
                        continue
                    waiter.conn = self._idle.popleft() if self._idle else self._new_slot()
                    self.in_use += 1
                    waiter.event.set()
                    return
                loop, fut = waiter
                if fut.done():
                    continue
                conn = self._idle.popleft() if self._idle else self._new_slot()
                self.in_use += 1
                try:
                    loop.call_soon_threadsafe(self._deliver, fut, conn)
                except RuntimeError:  # loop closed
                    self.in_use -= 1
                    self._idle.append(conn) if conn is not _Pending else self._drop_slot()
                    continue
                return

    @staticmethod
    def _dead(waiter: Any) -> bool:
        return bool(waiter.cancelled) if isinstance(waiter, _ThreadWaiter) else bool(waiter[1].done())

    def _new_slot(self) -> Any:
        self._open += 1
        return _Pending

    def _drop_slot(self) -> None:
        self._open -= 1

    def _deliver(self, fut: asyncio.Future[Any], conn: Any) -> None:
        if fut.done():  # timed out meanwhile: give the connection back
            if conn is _Pending:
                with self._lock:
                    self._open -= 1
                    self.in_use -= 1
                self._serve_waiter()
            else:
                self.release(conn)
            return
        fut.set_result(conn)

    def close(self) -> None:
        with self._lock:
            while self._idle:
                self._close(self._idle.popleft())


class _PendingType:
    """Marker for a slot reserved under the lock; the connection is made outside it."""


_Pending: Any = _PendingType()

__all__ = ["ConnectionPool"]
