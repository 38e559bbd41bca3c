"""The ``gpu_contention`` fault: a co-located process that keeps the same GPU busy.

A separate Python process (started in its own session, stopped by PID) runs large fp16/fp32
matrix multiplications on ``cuda:0`` in a loop, as a neighbouring training job would.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import sys

from infersight.demo._errors import ConfigError

log = logging.getLogger(__name__)

_BURN = """
import torch
a = torch.randn(8192, 8192, device="cuda", dtype=torch.float16)
b = torch.randn(8192, 8192, device="cuda", dtype=torch.float16)
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
                raise ConfigError("gpu_contention needs a CUDA GPU")
        except ImportError:
            raise ConfigError("gpu_contention needs PyTorch with CUDA (pip install torch)") from None
        self.proc = subprocess.Popen([sys.executable, "-c", _BURN], start_new_session=True,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        log.warning("gpu burner started (pid %d)", self.proc.pid)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None


__all__ = ["GpuBurner"]
