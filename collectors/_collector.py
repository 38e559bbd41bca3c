"""The Collector: DuckDB file + writer thread + OTLP/HTTP (uvicorn) + OTLP/gRPC + retention."""

from __future__ import annotations

import asyncio
import errno
import json
import logging
import os
import socket
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import duckdb
import uvicorn

from ._budget import InflightBudget
from ._conn import guarded_protocol
from ._disk import DiskGuard
from ._errors import CollectorConfigError, PortInUseError, StorageError
from ._hosts import allowed_hosts, is_wildcard
from ._http import ASGIApp, OTLPHttpApp
from ._jaeger_api import JaegerAPI
from ._live import LiveReads
from ._pool import DecodePool
from ._reads import Reads
from ._retention import Retention
from ._schema import ensure_schema
from ._selfmetrics import CollectorMetrics
from ._writer import Writer

logger = logging.getLogger(__name__)


def sidecar_path(db_path: str | os.PathLike[str]) -> Path:
    """Where a running collector advertises its URL next to the DB file (for open_readonly)."""
    return Path(str(db_path) + ".collector.json")


def open_database(path: str, *, memory_limit: str | None = None, threads: int | None = None,
                  checkpoint_threshold: str | None = None) -> duckdb.DuckDBPyConnection:
    """Open (create) the DuckDB file for writing and bring its schema up to date.

    ``memory_limit`` caps DuckDB's buffer pool (its default is 80% of RAM, which is not what a
    sidecar telemetry receiver should take). ``threads`` and ``checkpoint_threshold`` (WAL size
    that triggers a checkpoint) are DuckDB's settings of the same names; None keeps its default.
    """
    if Path(path).is_dir():
        raise StorageError(f"cannot use {path} as the database: it is a directory")
    parent = Path(path).resolve().parent
    if not parent.is_dir():
        raise StorageError(f"cannot create {path}: directory {parent} does not exist")
    if not os.access(parent, os.W_OK) or (os.path.exists(path) and not os.access(path, os.W_OK)):
        # os.access says no for both; statvfs tells a read-only mount from missing permissions
        if os.statvfs(parent).f_flag & os.ST_RDONLY:
            raise StorageError(f"cannot write {path}: the filesystem is mounted read-only")
        raise StorageError(f"cannot write {path}: permission denied")
    config: dict[str, str | bool | int | float | list[str]] = {}
    if memory_limit:
        config["memory_limit"] = memory_limit
    if threads:
        config["threads"] = threads
    if checkpoint_threshold:
        config["checkpoint_threshold"] = checkpoint_threshold
    try:
        con = duckdb.connect(path, config=config)
    except duckdb.IOException as exc:
        msg = str(exc)
        if "lock" in msg.lower():
            raise StorageError(f"{path} is in use by another process (is a collector already running?)") from None
        raise StorageError(f"cannot open {path}: {msg.splitlines()[0]}") from None
    except duckdb.Error as exc:
        raise StorageError(f"cannot open {path}: {str(exc).splitlines()[0]}") from None
    try:
        ensure_schema(con, path=path)
    except BaseException:
        con.close()
        raise
    return con


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise PortInUseError(f"port {port} on {host} is already in use (HTTP)") from None
        raise PortInUseError(f"cannot listen on {host}:{port} (HTTP): {exc.strerror}") from None
    sock.listen(1024)
    sock.setblocking(False)
    return sock


class Collector:
    """An OTLP receiver storing into one DuckDB file. ``start()``/``stop()`` or ``with``.

    ``http_port=0`` / ``grpc_port=0`` pick free ports (see ``.http_port``/``.grpc_port`` after
    start); ``grpc_port=None`` disables gRPC. ``decode_workers=N`` decodes OTLP/HTTP bodies in N
    worker processes (the CLI's ``--workers``, default: one per CPU beyond the first).
    ``db_threads=1``: DuckDB runs each insert on the writer thread alone (on a small box a second
    DuckDB thread costs more CPU per span than it saves); ``checkpoint_threshold`` = WAL size
    between checkpoints (a checkpoint recompresses the last, partly filled row group, so rarer
    checkpoints cost less CPU per span; the WAL is replayed at start after a crash).

    Limits: ``max_inflight_bytes`` = decompressed request bytes held at once over every HTTP
    connection and gRPC call (counted as bodies stream in); ``grpc_max_message`` = largest gRPC
    message (never above ``max_body``); ``max_connections`` open HTTP connections (more get 503 at once);
    ``header_timeout_s`` / ``body_timeout_s`` = how long a connection may take to send its
    headers / go without sending body data. ``allow_hosts``: Host header names accepted besides
    the defaults (see ``_hosts``; ``["*"]`` = any). ``private_files``: the DB, its WAL, the
    sidecar and DuckDB's temp folder are created readable by this user only (umask 077 while the
    collector runs; it is process-wide, so an embedding process may pass False).

    Besides OTLP, the HTTP port serves ``/metrics`` (the collector's own Prometheus metrics),
    the Jaeger query API at ``/api`` and, for each ``mounts`` entry ``{"/ui": factory}``, the
    ASGI app ``factory(reads)`` under that prefix (``reads``: read-only access to the database,
    see ``_reads.Reads``); all of them behind the same token.
    """

    def __init__(self, db_path: str | os.PathLike[str], *, host: str = "127.0.0.1", http_port: int = 4318,
                 grpc_port: int | None = 4317, token: str | None = None, retention_s: float | None = None,
                 max_size: int | None = None, max_body: int = 64 << 20, max_queue_rows: int = 131_072,
                 max_inflight_bytes: int = 128 << 20, memory_limit: str | None = "128MB", tls_cert: str | None = None, tls_key: str | None = None,
                 retention_interval_s: float = 30.0, decode_workers: int = 0, db_threads: int | None = 1,
                 checkpoint_threshold: str | None = "64MB", grpc_max_message: int = 4 << 20,
                 max_connections: int = 512, header_timeout_s: float = 30.0, body_timeout_s: float = 30.0,
                 allow_hosts: Sequence[str] = (), private_files: bool = True,
                 mounts: Mapping[str, Callable[[Reads], ASGIApp]] | None = None) -> None:
        if (tls_cert is None) != (tls_key is None):
            raise CollectorConfigError("TLS needs both a certificate and a key")
        if max_body <= 0:
            raise CollectorConfigError("max_body must be positive")
        self.db_path = str(db_path)
        self.host = host
        self.http_port = http_port
        self.grpc_port = grpc_port
        self.token = token or None
        self.retention_s = retention_s
        self.max_size = max_size
        self.max_body = max_body
        self.max_queue_rows = max_queue_rows
        self.max_inflight_bytes = max_inflight_bytes
        self.memory_limit = memory_limit
        self.tls_cert = tls_cert
        self.tls_key = tls_key
        self.retention_interval_s = retention_interval_s
        self.decode_workers = decode_workers
        self.db_threads = db_threads
        self.checkpoint_threshold = checkpoint_threshold
        self.grpc_max_message = grpc_max_message
        self.max_connections = max_connections
        self.header_timeout_s = header_timeout_s
        self.body_timeout_s = body_timeout_s
        self.allow_hosts = list(allow_hosts)
        self.private_files = private_files
        self._umask: int | None = None
        self.budget = InflightBudget(max(max_inflight_bytes, max_body))
        self.mounts = dict(mounts or {})
        self.metrics = CollectorMetrics()
        self.reads: Reads | None = None
        self.pool: DecodePool | None = None
        self.guard: DiskGuard | None = None
        self.con: duckdb.DuckDBPyConnection | None = None
        self.writer: Writer | None = None
        self.app: OTLPHttpApp | None = None
        self.retention: Retention | None = None
        self._grpc: Any = None
        self._server: uvicorn.Server | None = None
        self._http_thread: threading.Thread | None = None
        self._started = False
        self._http_error = ""
        self._sock: socket.socket | None = None

    @property
    def url(self) -> str:
        scheme = "https" if self.tls_cert else "http"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{host}:{self.http_port}"

    @property
    def local_url(self) -> str:
        """The URL a process on this machine uses (loopback for a wildcard bind)."""
        if not is_wildcard(self.host):
            return self.url
        scheme = "https" if self.tls_cert else "http"
        return f"{scheme}://{'[::1]' if ':' in self.host else '127.0.0.1'}:{self.http_port}"

    def start(self) -> Collector:
        if self.private_files and self._umask is None:
            self._umask = os.umask(0o077)
            _warn_if_readable(self.db_path)
        try:
            sock = self._sock = _bind(self.host, self.http_port)
        except BaseException:
            self._restore_umask()
            raise
        try:
            self.http_port = int(sock.getsockname()[1])
            self.con = open_database(self.db_path, memory_limit=self.memory_limit, threads=self.db_threads,
                                     checkpoint_threshold=self.checkpoint_threshold)
        except BaseException:
            sock.close()
            self._restore_umask()
            raise
        try:
            self.guard = DiskGuard(self.db_path)
            self.writer = Writer(self.con, max_queue_rows=self.max_queue_rows, guard=self.guard,
                                 reopen=self._reopen, on_commit=self.metrics.commit_seconds.observe)
            self.writer.start()
            if self.grpc_port is not None:
                tls = None
                if self.tls_cert and self.tls_key:
                    tls = (Path(self.tls_cert).read_bytes(), Path(self.tls_key).read_bytes())
                self._grpc, self.grpc_port = _start_grpc(self.writer, self.host, self.grpc_port, self.token,
                                                         min(self.grpc_max_message, self.max_body), tls,
                                                         self.budget, self.metrics)
            if self.decode_workers > 0:
                self.pool = DecodePool(self.decode_workers)
                self.pool.start()
            self.reads = Reads(self.con, self.db_path)
            routes: list[tuple[str, ASGIApp]] = [("/api", JaegerAPI(self.reads))]
            routes += [(prefix, factory(self.reads)) for prefix, factory in self.mounts.items()]
            self.app = OTLPHttpApp(self.writer, token=self.token, max_body=self.max_body,
                                   max_inflight_bytes=self.max_inflight_bytes, live=LiveReads(self._current_con),
                                   pool=self.pool, budget=self.budget, body_timeout_s=self.body_timeout_s,
                                   allowed_hosts=allowed_hosts(self.host, self.allow_hosts),
                                   metrics=self.metrics, routes=routes)
            config = uvicorn.Config(self.app, log_level="warning", access_log=False, lifespan="off",
                                    ssl_certfile=self.tls_cert, ssl_keyfile=self.tls_key,
                                    http=guarded_protocol(self.max_connections, self.header_timeout_s),
                                    timeout_keep_alive=min(30, int(self.header_timeout_s) or 1),
                                    h11_max_incomplete_event_size=1 << 20)
            self._server = uvicorn.Server(config)
            started = threading.Event()
            self._http_thread = threading.Thread(target=self._serve_http, args=(sock, started),
                                                 name="infersight-http", daemon=True)
            self._http_thread.start()
            if not started.wait(30) or not self._server.started:
                err = self._http_error
                raise CollectorConfigError(f"HTTP server did not start: {err}" if err else "HTTP server did not start")
            self.retention = Retention(self.writer, self.db_path, retention_s=self.retention_s,
                                       max_size=self.max_size, interval_s=self.retention_interval_s)
            self.retention.start()
            budget, writer, retention = self.budget, self.writer, self.retention
            self.metrics.watch(queue_rows=lambda: writer.queued_rows, inflight_bytes=lambda: budget.used,
                               db_path=self.db_path, retention_deleted=lambda: retention.deleted)
            self.app.ready = True
            self._started = True
            self._write_sidecar()
        except BaseException:
            self.stop()
            raise
        logger.info("collector ready: http %s grpc %s db %s", self.url,
                    self.grpc_port if self.grpc_port is not None else "off", self.db_path)
        return self

    def _serve_http(self, sock: socket.socket, started: threading.Event) -> None:
        assert self._server is not None

        async def main() -> None:
            assert self._server is not None
            task = asyncio.ensure_future(self._server.serve(sockets=[sock]))
            while not self._server.started and not task.done():
                await asyncio.sleep(0.01)
            started.set()
            await task

        try:
            asyncio.run(main())
        except BaseException as exc:  # noqa: BLE001 - reported by start() as one line
            self._http_error = f"{type(exc).__name__}: {exc}"
        finally:
            started.set()

    def _write_sidecar(self) -> None:
        path = sidecar_path(self.db_path)
        try:
            path.unlink(missing_ok=True)  # a new file: ours, mode 0600 (readers check both)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(json.dumps({"url": self.local_url, "pid": os.getpid(),
                                     "token_required": bool(self.token)}))
        except OSError as exc:
            logger.warning("cannot write %s: %s", path, exc)

    def _current_con(self) -> duckdb.DuckDBPyConnection:
        assert self.con is not None
        return self.con

    def _reopen(self, old: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
        """On the writer thread: replace a connection DuckDB invalidated with a fresh one."""
        try:
            old.close()
        except duckdb.Error:
            pass
        self.con = open_database(self.db_path, memory_limit=self.memory_limit, threads=self.db_threads,
                                 checkpoint_threshold=self.checkpoint_threshold)
        if self.reads is not None:
            self.reads.use(self.con)
        return self.con

    def _restore_umask(self) -> None:
        if self._umask is not None:
            os.umask(self._umask)
            self._umask = None

    def stop(self) -> None:
        """Stop accepting, finish queued writes, checkpoint, close. Safe to call twice."""
        if self.app is not None:
            self.app.ready = False
        if self._server is not None:
            self._server.should_exit = True
        if self._http_thread is not None and self._http_thread.is_alive():
            self._http_thread.join(15)
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        if self._grpc is not None:
            self._grpc.stop(grace=5).wait(10)
            self._grpc = None
        if self.pool is not None:
            self.pool.stop()
            self.pool = None
        if self.retention is not None:
            self.retention.stop()
        if self.writer is not None:
            self.writer.stop()
        if self.con is not None:
            if self.guard is None or self.guard.checkpoint_fits():
                try:
                    self.con.execute("CHECKPOINT")
                except duckdb.Error as exc:
                    logger.warning("checkpoint at shutdown failed: %s", exc)
            else:  # a failed checkpoint is fatal; the WAL is replayed at the next start instead
                logger.warning("not enough disk space to checkpoint at shutdown; the WAL is kept")
            try:
                self.con.close()
            except duckdb.Error as exc:
                logger.warning("closing the database failed: %s", exc)
            self.con = None
        if self._started:
            try:
                sidecar_path(self.db_path).unlink(missing_ok=True)
            except OSError:
                pass
            self._started = False
        self._restore_umask()

    def __enter__(self) -> Collector:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _start_grpc(writer: Writer, host: str, port: int, token: str | None, max_message: int,
                tls: tuple[bytes, bytes] | None, budget: InflightBudget,
                metrics: CollectorMetrics) -> tuple[Any, int]:
    from ._grpc import start_grpc_server

    return start_grpc_server(writer, host, port, token=token, max_message=max_message, tls=tls, budget=budget,
                             metrics=metrics)


def _warn_if_readable(db_path: str) -> None:
    """An existing DB or WAL that other users can read: say so once (it is not changed)."""
    for p in (db_path, db_path + ".wal"):
        try:
            mode = os.stat(p).st_mode
        except OSError:
            continue
        if mode & 0o077:
            logger.warning("%s is readable by other users (mode %o); telemetry can hold secrets: chmod 600 it",
                           p, mode & 0o777)
