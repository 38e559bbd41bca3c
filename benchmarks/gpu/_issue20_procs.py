"""The processes h100_issue20.py starts: the model server, co-located GPU users; all stopped by PID."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from _issue20_load import Load, OtlpFileReceiver

HERE = Path(__file__).resolve().parent
BURNER = ("import time, torch\n"
          "a = torch.randn(8192, 8192, dtype=torch.bfloat16, device='cuda')\n"
          "print('ready', flush=True)\n"
          "while True:\n"
          "    for _ in range(20):\n"
          "        a @ a\n"
          "    torch.cuda.synchronize()\n")
HOG = ("import time, torch\n"
       "free, _ = torch.cuda.mem_get_info()\n"
       "hold = torch.empty(max(0, free - int(0.5 * 2**30)), dtype=torch.uint8, device='cuda')\n"
       "print('ready', flush=True)\n"
       "time.sleep(3600)\n")
IDLE_PROC = "import time; print('ready', flush=True); time.sleep(3600)\n"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """The model server (_issue20_app.py) in its own process; stopped by PID."""

    def __init__(self, out: Path, otlp: str, *, fake: bool, gpu_plane: bool = True) -> None:
        self.port = free_port()
        env = dict(os.environ, ISSUE20_OTLP=otlp, ISSUE20_FAKE="1" if fake else "0",
                   ISSUE20_GPU="1" if gpu_plane else "0", PYTHONUNBUFFERED="1")
        self.log = (out / "server.log").open("ab")
        self.proc = subprocess.Popen([sys.executable, str(HERE / "_issue20_app.py"), "--port", str(self.port)],
                                     env=env, stdout=self.log, stderr=subprocess.STDOUT)
        self.base = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}; see {out / 'server.log'}")
            try:
                if self.call("GET", "/healthz", timeout=2)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.3)
        raise RuntimeError("server did not become healthy in 180 s")

    def call(self, method: str, path: str, timeout: float = 60) -> tuple[int, Any]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request(method, path, headers={"content-length": "0"})
            resp = conn.getresponse()
            body = resp.read()
        finally:
            conn.close()
        ctype = resp.getheader("content-type") or ""
        return resp.status, json.loads(body) if "json" in ctype else body.decode(errors="replace")

    def stats(self) -> dict[str, Any]:
        return dict(self.call("GET", "/_bench/stats")[1])

    def cpu_s(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # graceful: telemetry flushes on shutdown
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.log.close()


class Side:
    """A co-located process (burner, hog, or a sleeping stand-in in fake mode); stopped by PID."""

    def __init__(self, code: str) -> None:
        self.proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline().strip() if self.proc.stdout else ""
        if line != "ready":
            raise RuntimeError(f"co-located process did not start: {line!r}")
        self.pid = self.proc.pid

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait(30)


def calibrate(srv: Server, rx: OtlpFileReceiver, n: int = 512) -> dict[str, float]:
    """Service time of one request alone (closed loop, 1 client, 3 s) -> a moderate open-loop rate."""
    load = Load(srv.base, rx.url)
    load.closed_loop(1, 3.0, lambda i, t: "calibrate", lambda i, t: f"n={n}")
    load.close()
    lat = sorted(s.latency_ms for s in load.samples if s.status == 200)[1:] or [50.0]
    service_ms = lat[len(lat) // 2]
    rate = max(2.0, min(40.0, 0.4 * 1000.0 / service_ms))  # ~40 % busy: moderate
    return {"service_ms_median": service_ms, "capacity_rps": 1000.0 / service_ms, "rate_rps": rate}




__all__ = ["BURNER", "HOG", "IDLE_PROC", "Server", "Side", "calibrate", "free_port"]
