"""Real collector processes for the reliability tests and benchmarks: start, wait, measure, stop."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import httpx

from tests.conftest import free_port


def tree_rss_bytes(pid: int) -> int:
    """Resident memory of a process and all its descendants (decode workers included), from /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as fh:
                fields = fh.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry))
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        todo.extend(children.get(p, []))
        try:
            with open(f"/proc/{p}/statm", "rb") as fh:
                total += int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except OSError:
            continue
    return total


class CollectorProcess:
    """``infersight collect`` as a child process on free loopback ports (same ports across restarts)."""

    def __init__(self, db: Path, *, extra: Sequence[str] = (), grpc: bool = True,
                 preexec_fn: Callable[[], None] | None = None, http_port: int | None = None,
                 cli: Sequence[str] | None = None) -> None:
        """``cli``: the command that runs infersight (default: this interpreter's ``-m infersight.cli``;
        tests/installed passes the ``infersight`` executable of the installed wheel)."""
        self.db = db
        self.cli = list(cli) if cli else [sys.executable, "-m", "infersight.cli"]
        self.extra = list(extra)
        self.http_port = http_port or free_port()
        self.grpc_port = free_port() if grpc else -1
        self.preexec_fn = preexec_fn
        self.log_path = db.parent / (db.name + ".log")
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def argv(self) -> list[str]:
        return [*self.cli, "collect", "--db", str(self.db),
                "--http-port", str(self.http_port), "--grpc-port", str(self.grpc_port), *self.extra]

    def start(self, timeout_s: float = 60.0) -> None:
        with open(self.log_path, "ab") as log:
            # cwd = the DB's folder, so nothing can import the checkout's folders by accident
            self.proc = subprocess.Popen(
                self.argv(), cwd=self.db.parent, env=_env(),
                stdout=subprocess.DEVNULL, stderr=log, preexec_fn=self.preexec_fn)  # noqa: PLW1509
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if self.proc.poll() is not None:
                raise AssertionError(f"collector exited {self.proc.returncode}: {self.log()[-2000:]}")
            time.sleep(0.05)
        self.kill9()
        raise AssertionError("collector did not become ready")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def rss(self) -> int:
        assert self.proc is not None
        return tree_rss_bytes(self.proc.pid)

    def kill9(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            pids = _descendants(self.proc.pid)
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(30)
            for p in pids:  # decode workers die with their parent's pipe; make sure
                try:
                    os.kill(p, signal.SIGKILL)
                except ProcessLookupError:
                    pass

    def stop(self, timeout_s: float = 60.0) -> int:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc is not None else 0
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.kill9()
            raise

    def __enter__(self) -> CollectorProcess:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.kill9() if exc[0] is not None else self.stop()


_EMBEDDED = """
import signal, sys, threading
from infersight.collectors import Collector
col = Collector(sys.argv[1], http_port=int(sys.argv[2]), grpc_port=None, max_inflight_bytes=int(sys.argv[3]),
                max_body=int(sys.argv[3]) // 2)  # the budget is never below max_body
col.start()
stop = threading.Event()
signal.signal(signal.SIGTERM, lambda *_: stop.set())
stop.wait()
col.stop()
"""


class EmbeddedCollectorProcess(CollectorProcess):
    """``Collector(...)`` from Python in a child process, for budgets the CLI has no flag for."""

    def __init__(self, db: Path, *, max_inflight_bytes: int) -> None:
        super().__init__(db, grpc=False)
        self.max_inflight_bytes = max_inflight_bytes

    def argv(self) -> list[str]:
        return [sys.executable, "-c", _EMBEDDED, str(self.db), str(self.http_port), str(self.max_inflight_bytes)]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    return env


def _descendants(pid: int) -> list[int]:
    out: list[int] = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", "rb") as fh:
                    if int(fh.read().rsplit(b")", 1)[1].split()[1]) == pid:
                        out.append(int(entry))
            except OSError:
                continue
    return out
