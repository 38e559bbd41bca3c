"""An out-of-process prober: client-side latency of a server that has no traced upstream.

``infersight probe http://127.0.0.1:8000`` sends ``GET /healthz`` at a fixed rate (10/s) on
an open-loop schedule (a probe is never delayed by a slow earlier one; a busy client shows as
send lag, and latency runs from the scheduled time), and exports each probe as an OTLP CLIENT
span (:mod:`.client`; resource ``infersight.role`` = ``probe``). The server's own health
endpoints are not traced by default, so a probe's span has no server child: it measures what
a caller waits, e.g. for a blocked event loop. Only the standard library and the OTel SDK.
"""

from __future__ import annotations

import http.client
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from infersight.instrument._errors import ConfigurationError
from infersight.instrument.client import ClientSpans, Clock

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProbeConfig:
    """``url``: the server's base URL; ``path`` is what is probed (``/healthz``)."""

    url: str
    path: str = "/healthz"
    rate: float = 10.0
    duration: float | None = None
    timeout: float = 2.0
    workers: int = 32

    def __post_init__(self) -> None:
        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigurationError(f"probe URL must be an http(s) URL like http://127.0.0.1:8000, got {self.url!r}")
        if not self.path.startswith("/"):
            raise ConfigurationError(f"probe path must start with '/', got {self.path!r}")
        if not self.rate > 0 or not self.timeout > 0 or self.workers < 1:
            raise ConfigurationError("rate and timeout must be > 0 and workers >= 1")
        if self.duration is not None and not self.duration > 0:
            raise ConfigurationError("duration must be > 0")


@dataclass
class ProbeResult:
    scheduled: float           # s since the prober started
    latency_ms: float | None   # response end - scheduled; None on failure
    status: int = 0
    error: str = ""
    send_lag_ms: float = 0.0


def _nearest_rank(lat: list[float], p: float) -> float | None:
    return lat[min(len(lat) - 1, int(p * (len(lat) - 1) + 0.5))] if lat else None


@dataclass
class Rolling:
    """Latencies of the last ``window_s`` seconds (by scheduled time), for p50/p99 read-outs;
    ``add`` from the probe threads, ``snapshot`` from any thread."""

    window_s: float = 60.0
    _items: deque[tuple[float, float | None]] = field(default_factory=deque, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)

    def add(self, result: ProbeResult) -> None:
        with self._lock:
            self._items.append((result.scheduled, result.latency_ms))

    def snapshot(self, now: float) -> dict[str, float | int | None]:
        with self._lock:
            while self._items and self._items[0][0] < now - self.window_s:
                self._items.popleft()
            items = list(self._items)
        lat = sorted(v for _, v in items if v is not None)
        return {"n": len(items), "errors": sum(1 for _, v in items if v is None),
                "p50_ms": _nearest_rank(lat, 0.5), "p99_ms": _nearest_rank(lat, 0.99),
                "max_ms": lat[-1] if lat else None}


class _Worker(threading.local):
    conn: http.client.HTTPConnection | None = None


class Prober:
    """Runs one probe schedule; ``stop()`` from any thread ends it."""

    def __init__(self, cfg: ProbeConfig, spans: ClientSpans | None = None,
                 on_result: Callable[[ProbeResult], None] | None = None) -> None:
        self.cfg = cfg
        self.spans = spans
        self.on_result = on_result
        parts = urlsplit(cfg.url)
        self._https = parts.scheme == "https"
        self._host = parts.hostname or ""
        self._port = parts.port or (443 if self._https else 80)
        self._path = parts.path.rstrip("/") + cfg.path
        self._local = _Worker()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self.results: list[ProbeResult] = []
        self._conns: list[http.client.HTTPConnection] = []  # every worker's, closed at the end
        self.clock = spans.clock if spans is not None else Clock()

    def stop(self) -> None:
        self._stop.set()

    def _connection(self) -> http.client.HTTPConnection:
        conn = self._local.conn
        if conn is None:
            cls = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
            conn = self._local.conn = cls(self._host, self._port, timeout=self.cfg.timeout)
            with self._lock:
                self._conns.append(conn)
        return conn

    def _get(self, headers: dict[str, str]) -> http.client.HTTPResponse:
        for attempt in (0, 1):
            reused = self._local.conn is not None
            conn = self._connection()
            try:
                conn.request("GET", self._path, headers=headers)
                resp = conn.getresponse()
                resp.read()
                return resp
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                conn.close()
                self._local.conn = None
                if not reused or attempt:  # a kept-alive connection the server closed: retry once
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _probe(self, t0: int, at_ns: int) -> None:
        sent = time.perf_counter_ns()
        result = ProbeResult(at_ns / 1e9, None, send_lag_ms=max(0, sent - t0 - at_ns) / 1e6)
        handle = None
        headers = {"user-agent": "infersight-probe"}
        if self.spans is not None:
            handle = self.spans.begin("GET", self.cfg.path, self.cfg.url, scheduled_ns=self.clock.wall(t0 + at_ns),
                                      sent_ns=self.clock.wall(sent))
            headers.update(handle.headers)
        try:
            resp = self._get(headers)
            result.status = resp.status
            if resp.status >= 400:
                result.error = f"http_{resp.status}"
            else:
                result.latency_ms = (time.perf_counter_ns() - t0 - at_ns) / 1e6
        except TimeoutError:
            result.error = "timeout"
        except (OSError, http.client.HTTPException) as exc:
            result.error = type(exc).__name__
        if result.error and self._local.conn is not None:
            self._local.conn.close()
            self._local.conn = None
        if handle is not None:
            handle.finish(result.status or None, result.error if not result.status else None,
                          self.clock.wall(time.perf_counter_ns()))
        with self._lock:
            self.results.append(result)
        if self.on_result is not None:
            self.on_result(result)

    def run(self, report: Callable[[float], None] | None = None, report_every_s: float = 5.0) -> list[ProbeResult]:
        """Probe until ``duration`` passed or :meth:`stop`; ``report(elapsed_s)`` every ``report_every_s``."""
        cfg = self.cfg
        period_ns = int(1e9 / cfg.rate)
        t0 = time.perf_counter_ns()
        next_report = report_every_s
        with ThreadPoolExecutor(max_workers=cfg.workers, thread_name_prefix="infersight-probe") as pool:
            n = 0
            while not self._stop.is_set():
                at_ns = n * period_ns
                if cfg.duration is not None and at_ns >= cfg.duration * 1e9:
                    break
                delay = (t0 + at_ns - time.perf_counter_ns()) / 1e9
                if delay > 0 and self._stop.wait(delay):
                    break
                pool.submit(self._probe, t0, at_ns)
                n += 1
                elapsed = (time.perf_counter_ns() - t0) / 1e9
                if report is not None and elapsed >= next_report:
                    next_report += report_every_s
                    report(elapsed)
        for conn in self._conns:
            conn.close()
        self._conns.clear()
        return sorted(self.results, key=lambda r: r.scheduled)


def percentiles(results: list[ProbeResult]) -> dict[str, float | None]:
    lat = sorted(r.latency_ms for r in results if r.latency_ms is not None)
    return {"p50_ms": _nearest_rank(lat, 0.5), "p99_ms": _nearest_rank(lat, 0.99),
            "max_ms": lat[-1] if lat else None}


__all__ = ["ProbeConfig", "ProbeResult", "Prober", "Rolling", "percentiles"]
