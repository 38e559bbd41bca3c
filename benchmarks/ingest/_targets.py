"""Start/stop the systems under test: the infersight collector and Arize Phoenix (SQLite)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, proc: subprocess.Popen[bytes], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args} exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} not ready after {timeout}s")


def rss_bytes(pid: int) -> int:
    """Resident memory of a process and its descendants (decode workers, phoenix's children)."""
    total = 0
    for p in _tree(pid):
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            pass
    return total


def _children(pid: int) -> list[int]:
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            out += [int(p) for p in (task / "children").read_text().split()]
        except OSError:
            pass
    return out


def _tree(pid: int) -> list[int]:
    pids, i = [pid], 0
    while i < len(pids):
        pids += _children(pids[i])
        i += 1
    return pids


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process and all its descendants (live ones and reaped ones), in seconds."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for i, p in enumerate(_tree(pid)):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12]) + (int(fields[13]) + int(fields[14]) if i == 0 else 0)
    return total / ticks


class RssSampler:
    def __init__(self, pid: int, interval: float = 0.1) -> None:
        self.pid = pid
        self.interval = interval
        self.peak = 0
        self.samples: list[int] = []
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            r = rss_bytes(self.pid)
            self.samples.append(r)
            self.peak = max(self.peak, r)

    def __enter__(self) -> RssSampler:
        self.cpu0 = cpu_seconds(self.pid)
        self._t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._t.join()
        self.cpu = cpu_seconds(self.pid) - self.cpu0


class Infersight:
    name = "infersight"

    def __init__(self, workdir: Path, extra: list[str] | None = None) -> None:
        self.db = workdir / "bench.duckdb"
        self.port = free_port()
        self.log = open(workdir / "infersight.log", "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "infersight.cli", "collect", "--db", str(self.db), "--http-port", str(self.port),
             "--grpc-port", "-1", "--log-level", "warning", *(extra or [])],
            stdout=subprocess.DEVNULL, stderr=self.log)
        wait_http(f"http://127.0.0.1:{self.port}/healthz", self.proc)

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(120)
        self.log.close()

    def stored(self) -> int:
        import duckdb

        con = duckdb.connect(str(self.db), read_only=True)
        try:
            return int(con.execute("SELECT count(*) FROM otel_traces").fetchone()[0])  # type: ignore[index]
        finally:
            con.close()

    def disk_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.db.parent.glob(self.db.name + "*") if p.suffix != ".json")


class Phoenix:
    name = "phoenix"

    def __init__(self, workdir: Path, exe: str) -> None:
        self.dir = workdir / "phoenix"
        self.dir.mkdir()
        self.port = free_port()
        env = {**os.environ, "PHOENIX_WORKING_DIR": str(self.dir), "PHOENIX_PORT": str(self.port),
               "PHOENIX_GRPC_PORT": str(free_port()), "PHOENIX_HOST": "127.0.0.1",
               "PHOENIX_TELEMETRY_ENABLED": "false", "PHOENIX_ENABLE_PROMETHEUS": "false"}
        self.log = open(workdir / "phoenix.log", "wb")  # noqa: SIM115
        self.proc = subprocess.Popen([exe, "serve"], env=env, stdout=self.log, stderr=subprocess.STDOUT)
        wait_http(f"http://127.0.0.1:{self.port}/healthz", self.proc, timeout=300)

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()

    def stored(self) -> int:
        db = self.dir / "phoenix.db"
        if not db.exists():
            return 0
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
        try:
            return int(con.execute("SELECT count(*) FROM spans").fetchone()[0])
        except sqlite3.Error:
            return 0
        finally:
            con.close()

    def disk_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.dir.glob("phoenix.db*"))


def phoenix_exe(venv: str) -> str | None:
    exe = Path(venv) / "bin" / "phoenix"
    return str(exe) if exe.exists() else shutil.which("phoenix")
