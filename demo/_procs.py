"""Child processes of a scenario (collector, redis, downstream, demo server), stopped by PID.

Children run in their own session, so a terminal Ctrl-C reaches only the runner, which then
stops them in order (server first, so its last spans flush to a still-running collector).
SIGTERM (``kill``, ``docker stop``, systemd) unwinds the runner the same way
(``sigterm_as_interrupt``): Python's default for SIGTERM is to die on the spot, skipping the
``finally`` blocks that stop the children, which then kept listening.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType

from infersight.demo._errors import ProcessError

log = logging.getLogger(__name__)


class Terminated(KeyboardInterrupt):
    """Raised in the main thread on SIGTERM: unwinds like Ctrl-C (exit status 143, not 130)."""


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """While inside, SIGTERM raises :class:`Terminated` in the main thread, so every ``finally``
    (``Stack.close``) runs and stops the children by PID before the process exits."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        raise Terminated(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Child:
    """One child process with its log file; ``stop()`` sends SIGTERM, then SIGKILL after ``grace``."""

    def __init__(self, name: str, argv: list[str], log_path: Path, env: dict[str, str] | None = None) -> None:
        self.name = name
        self.argv = argv
        self.log_path = log_path
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(argv, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     env={**os.environ, **(env or {})}, start_new_session=True)
        log.info("started %s (pid %d): %s", name, self.proc.pid, " ".join(argv))

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def tail(self, n: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def wait_http(self, url: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise ProcessError(f"{self.name} exited with {self.proc.returncode}:\n{self.tail()}")
            try:
                with urllib.request.urlopen(url, timeout=1.0) as r:
                    if r.status < 500:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.2)
        raise ProcessError(f"{self.name} not healthy at {url} after {timeout:g}s:\n{self.tail()}")

    def stop(self, grace: float = 15.0) -> None:
        if self.alive():
            try:
                self.proc.send_signal(signal.SIGTERM)
                self.proc.wait(grace)
            except subprocess.TimeoutExpired:
                log.warning("%s (pid %d) ignored SIGTERM for %gs; killing it", self.name, self.pid, grace)
                self.proc.kill()
                self.proc.wait(5)
            except ProcessLookupError:
                pass
        self._log.close()


def python_argv(*args: str) -> list[str]:
    return [sys.executable, *args]


def start_collector(db: Path, http_port: int, log_dir: Path,
                    register: Callable[[Child], None] = lambda c: None) -> Child:
    """``infersight collect`` on ``http_port``; ``register`` sees the child before it is waited for."""
    argv = python_argv("-m", "infersight.cli", "collect", "--db", str(db), "--http-port", str(http_port),
                       "--grpc-port", "-1", "--log-level", "warning")
    child = Child("collector", argv, log_dir / "collector.log")
    register(child)
    child.wait_http(f"http://127.0.0.1:{http_port}/healthz", timeout=60)
    return child


def start_redis(port: int, log_dir: Path, register: Callable[[Child], None] = lambda c: None) -> Child | None:
    exe = shutil.which("redis-server")
    if exe is None:
        log.warning("redis-server not found: the embedding cache stays in-process (apt-get install redis-server)")
        return None
    child = Child("redis", [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
                  log_dir / "redis.log")
    register(child)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return child
        except OSError:
            time.sleep(0.1)
    raise ProcessError(f"redis-server did not listen on {port}:\n{child.tail()}")


__all__ = ["Child", "Terminated", "free_port", "python_argv", "sigterm_as_interrupt", "start_collector",
           "start_redis"]
