"""The ``gpu_contention`` fault: a co-located process that keeps the same GPU busy.

A separate Python process (started in its own session, stopped by PID) runs large fp16/fp32
matrix multiplications on ``cuda:0`` in a loop, as a neighbouring training job would.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import sys

from infersight.demo._errors import DemoConfigError

log = logging.getLogger(__name__)

_BURN = """
import torch
a = torch.randn(8192, 8192, device="cuda", dtype=torch.float16)
b = torch.randn(8192, 8192, device="cuda", dtype=torch.float16)
(a @ b).sum().item()
print("ready", flush=True)
while True:
    for _ in range(20):
        a = (a @ b).clamp_(-1, 1)
    torch.cuda.synchronize()
"""


class GpuBurner:
    def __init__(self) -> None:
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        try:
            import torch

            if not torch.cuda.is_available():
                raise DemoConfigError("gpu_contention needs a CUDA GPU")
        except ImportError:
            raise DemoConfigError("gpu_contention needs PyTorch with CUDA (pip install torch)") from None
        self.proc = subprocess.Popen([sys.executable, "-c", _BURN], start_new_session=True,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        line = self.proc.stdout.readline() if self.proc.stdout is not None else b""  # after CUDA init
        if line.strip() != b"ready":
            self.stop()
            raise DemoConfigError("the GPU burner failed to start")
        log.warning("gpu burner running (pid %d)", self.proc.pid)

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        if proc.stdout is not None:
            proc.stdout.close()


__all__ = ["GpuBurner"]
