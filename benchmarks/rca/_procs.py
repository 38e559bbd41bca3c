"""Child processes of a run (collector, services, CPU hogs), each stopped by its PID."""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger(__name__)
ROOT = Path(__file__).resolve().parents[2]


class ChildError(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def last_cpu() -> int:
    return max(os.sched_getaffinity(0))


class Child:
    """A process in its own session with a log file; ``stop()`` = SIGTERM, then SIGKILL."""

    def __init__(self, name: str, argv: list[str], log_path: Path, env: dict[str, str] | None = None,
                 *, cpu: int | None = None, nice: int = 0) -> None:
        self.name = name
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self.log_path = log_path
        self._log = open(log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(argv, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     env={**os.environ, **(env or {})}, cwd=ROOT, start_new_session=True,
                                     preexec_fn=_placement(cpu, nice) if cpu is not None or nice else None)
        log.debug("started %s pid %d", name, self.proc.pid)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def tail(self, n: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def wait_http(self, url: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise ChildError(f"{self.name} exited with {self.proc.returncode}:\n{self.tail()}")
            try:
                with urllib.request.urlopen(url, timeout=1.0) as r:
                    if r.status < 500:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.1)
        raise ChildError(f"{self.name} not healthy at {url} after {timeout:g}s:\n{self.tail()}")

    def stop(self, grace: float = 10.0) -> None:
        if self.alive():
            try:
                os.kill(self.pid, signal.SIGTERM)
                self.proc.wait(grace)
            except subprocess.TimeoutExpired:
                log.warning("%s (pid %d) ignored SIGTERM; killing it", self.name, self.pid)
                os.kill(self.pid, signal.SIGKILL)
                self.proc.wait(5)
            except ProcessLookupError:
                pass
        self._log.close()


def _placement(cpu: int | None, nice: int) -> Callable[[], None]:
    def apply() -> None:
        if cpu is not None:
            os.sched_setaffinity(0, {cpu})
        if nice:
            os.nice(nice)
    return apply


def python(*args: str) -> list[str]:
    return [sys.executable, *args]


def hog(name: str, log_dir: Path, *, duty: float, cpu: int | None = None, nice: int = 0) -> Child:
    """A CPU-burning process (noisy neighbour or low-priority batch job), ``duty`` busy per 100 ms."""
    return Child(name, python("-m", "benchmarks.rca._hog", str(duty)), log_dir / f"{name}.log", cpu=cpu, nice=nice)


__all__ = ["ROOT", "Child", "ChildError", "free_port", "hog", "last_cpu", "python"]
