"""The model server h100_issue20.py measures: FastAPI + one engine thread running a toy model
(a stack of bf16 Linear layers) on the GPU, instrumented with ``instrument_app(app, gpu=True)``.

    ISSUE20_OTLP=http://127.0.0.1:4318 ISSUE20_GPU=1 python benchmarks/gpu/_issue20_app.py --port 8000

Routes: ``POST /infer?n=<tokens>`` (the request; OOMs are reported with ``record_gpu_oom`` and
retried with back-off, then 503); bench controls: ``POST /_bench/device?to=cpu|cuda`` (the CPU
fallback: the engine moves the model and declares it), ``GET /_bench/stats`` (the plane's ledger,
the device energy counter, sampler and process CPU), ``GET /_bench/callcost`` (cold cost of the
NVML/torch reads added for issue 20), ``POST /_bench/fake`` (fake mode: a burner/hog pid).

``ISSUE20_FAKE=1``: no GPU; the fake NVML of tests/instrument/gpu/ is driven by a small world
model (this engine's busy time, a burner's 70 %, a hog's memory), so the whole path dry-runs.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from infersight.instrument import GpuOptions

ROOT = Path(__file__).resolve().parents[2]
FAKE = os.environ.get("ISSUE20_FAKE") == "1"
GPU_PLANE = os.environ.get("ISSUE20_GPU", "1") == "1"
HIDDEN = int(os.environ.get("ISSUE20_HIDDEN", "4096"))
LAYERS = int(os.environ.get("ISSUE20_LAYERS", "8"))
FAKE_S_PER_TOKEN = 40e-6  # fake GPU work: 512 tokens = 20 ms
_GiB = 2**30


class FakeWorld:
    """Moves the fake GPU like the real one would move: this process's engine busy time, a
    burner process at 70 % of the GPU, a hog holding memory; power follows utilisation."""

    def __init__(self) -> None:
        sys.path.insert(0, str(ROOT))
        from tests.instrument.gpu.fake_nvml import FakeGpu, FakeNvml

        self.gpu = FakeGpu(util_gpu=0, power_mw=70_000, proc_util=[], mem_used=3 * _GiB,
                           procs=[(os.getpid(), 3 * _GiB)])
        self.nvml = FakeNvml([self.gpu])
        self.busy_s = 0.0  # GPU-busy seconds of the engine, cumulative
        self.burner_pid = 0
        self.hog_pid = 0
        self.lock = threading.Lock()
        threading.Thread(target=self._run, daemon=True, name="fake-world").start()

    def add_busy(self, seconds: float) -> None:
        with self.lock:
            self.busy_s += seconds

    def _run(self) -> None:
        last_t, last_busy = time.monotonic(), 0.0
        me = os.getpid()
        while True:
            time.sleep(0.05)
            now = time.monotonic()
            dt = now - last_t
            with self.lock:
                busy = self.busy_s
            mine = min(1.0, (busy - last_busy) / dt) if dt > 0 else 0.0
            last_t, last_busy = now, busy
            g = self.gpu
            other = 0.7 if self.burner_pid else 0.0
            mine = min(mine, 1.0 - other)
            util = mine + other
            procs = [(me, 3 * _GiB)]
            putil = [(me, round(100 * mine))]
            if self.burner_pid:
                procs.append((self.burner_pid, 4 * _GiB))
                putil.append((self.burner_pid, 70))
            if self.hog_pid:  # takes all but 0.5 GiB, like the real hog
                procs.append((self.hog_pid, g.mem_total - sum(m for _, m in procs) - _GiB // 2))
            g.procs, g.proc_util = procs, putil
            g.util_gpu = round(100 * util)
            g.mem_used = sum(m for _, m in procs)
            old = g.power_mw
            g.power_mw = int((70 + 550 * util) * 1000)
            g.energy_mj += int(0.5 * (old + g.power_mw) * dt)

    def free_bytes(self) -> int:
        return self.gpu.mem_total - self.gpu.mem_used


class Engine:
    """One thread runs the model, like a serving engine; the device can change at runtime."""

    def __init__(self, world: FakeWorld | None) -> None:
        self.world = world
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="engine")
        self.lock = threading.Lock()  # a forward vs a move of the weights (moves never queue)
        self.device = "cuda:0"
        self.model: Any = None
        if world is None:
            import torch

            torch.manual_seed(0)
            layers = [torch.nn.Linear(HIDDEN, HIDDEN, bias=False) for _ in range(LAYERS)]
            self.model = torch.nn.Sequential(*layers).to("cuda", torch.bfloat16).eval()
        from infersight.instrument import declare_model_device

        declare_model_device(self.model if self.model is not None else self.device, name="toy")

    def run(self, n: int) -> float:
        from infersight.instrument import record_gpu_oom

        for attempt in range(6):  # back off 0.05 .. 0.3 s, ~1 s in all, then give up (503)
            try:
                with self.lock:
                    return self._forward(n)
            except MemoryError:
                record_gpu_oom("oom", bytes_requested=n * HIDDEN * 2)
                self._release()
                time.sleep(0.05 * (attempt + 1))
        raise MemoryError("out of GPU memory after 6 attempts")

    def _forward(self, n: int) -> float:
        if self.world is not None:
            if self.device.startswith("cuda"):
                if self.world.hog_pid and 2 * n * HIDDEN * 2 > self.world.free_bytes():  # input + output
                    raise MemoryError("fake CUDA out of memory")
                t = min(0.1, n * FAKE_S_PER_TOKEN)
                time.sleep(t)
                self.world.add_busy(t)
            else:
                time.sleep(min(0.8, n * FAKE_S_PER_TOKEN * 8))  # the CPU: ~8x slower, no GPU activity
            return 0.0
        import torch

        dtype = torch.bfloat16 if self.device.startswith("cuda") else torch.float32  # CPU: fp32 (MKL)
        try:
            with torch.inference_mode():
                x = torch.randn(n, HIDDEN, dtype=dtype, device=self.device)
                y = self.model(x)
                if self.device.startswith("cuda"):
                    torch.cuda.synchronize()
                return float(y[0, 0])
        except torch.OutOfMemoryError as exc:
            raise MemoryError(str(exc)) from exc

    def _release(self) -> None:
        if self.world is None:
            import torch

            torch.cuda.empty_cache()

    def move(self, to: str) -> str:
        from infersight.instrument import declare_model_device

        with self.lock:
            self.device = "cuda:0" if to.startswith("cuda") else "cpu"
            if self.model is not None:
                import torch

                self.model.to(self.device, torch.bfloat16 if self.device == "cuda:0" else torch.float32)
                if self.device == "cpu":
                    torch.cuda.empty_cache()
            return declare_model_device(self.model if self.model is not None else self.device, name="toy")


def _proc_cpu_s() -> float:
    fields = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def build_app() -> Any:
    from fastapi import FastAPI, HTTPException
    from infersight.instrument import instrument_app
    from infersight.instrument.gpu import attribute

    world = FakeWorld() if FAKE else None
    engine = Engine(world)
    app = FastAPI()
    state = instrument_app(app, service_name="issue20-gpu-server", endpoint=os.environ["ISSUE20_OTLP"],
                           gpu=GpuOptions(enabled=GPU_PLANE, nvml=world.nvml if world else None,
                                          instance_type="p5.48xlarge"))
    plane = next((h._plane for h in state.hooks if hasattr(h, "_plane")), None)

    @app.post("/infer")
    async def infer(n: int = 512) -> dict[str, Any]:
        attribute(tokens=n)
        loop = asyncio.get_running_loop()
        try:
            out = await loop.run_in_executor(engine.pool, engine.run, n)
        except MemoryError as exc:
            raise HTTPException(503, f"GPU out of memory: {exc}") from exc
        return {"tokens": n, "out": out}

    @app.post("/_bench/device")
    async def device(to: str) -> dict[str, str]:
        loop = asyncio.get_running_loop()  # not the engine's queue: the move waits for one forward only
        return {"device": await loop.run_in_executor(None, engine.move, to)}

    @app.post("/_bench/release")
    async def release() -> dict[str, bool]:
        """Hand the allocator's cached blocks back to the driver (on the engine thread, between
        forwards), so a co-located process can take that memory, as another tenant would."""
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(engine.pool, engine._release)
        return {"released": True}

    @app.post("/_bench/fake")
    def fake(burner: int = -1, hog: int = -1) -> dict[str, int]:
        assert world is not None, "fake mode only"
        if burner >= 0:
            world.burner_pid = burner
        if hog >= 0:
            world.hog_pid = hog
        return {"burner": world.burner_pid, "hog": world.hog_pid}

    @app.get("/_bench/stats")
    def stats() -> dict[str, Any]:
        out: dict[str, Any] = {"pid": os.getpid(), "t_ns": time.time_ns(), "process_cpu_s": _proc_cpu_s(),
                               "gpu_plane": plane is not None, "device": engine.device}
        if plane is None:
            return out
        c = plane.ledger.consumers()
        reader = plane.sampler._reader
        energy = None
        if reader is not None and reader.devices:
            n = reader.api.nvml
            energy = sum(n.nvmlDeviceGetTotalEnergyConsumption(d.handle) / 1000.0
                         for d in reader.devices if d.parent is None)
        out.update({"sampler_cpu_s": plane.sampler.cpu_s, "sweeps": plane.sampler.last.seq,
                    "energy_counter_j": energy, "consumer_energy_j": dict(c.energy_j),
                    "consumer_seconds": dict(c.seconds), "other_pids": c.other_pids,
                    "attributed_energy_j": c.attributed_energy_j, "idle_energy_j": c.idle_energy_j,
                    "export": [plane.export.mode, plane.export.export_interval_s] if plane.export else None,
                    "share_source": plane.ledger.share_source, "gpu_work": plane.ledger.gpu_work,
                    "read_errors": {f"{k[0]}:{k[1]}": v for k, v in plane.sampler.read_errors.items()}})
        return out

    @app.get("/_bench/callcost")
    def callcost() -> dict[str, Any]:
        """Cold cost (thread CPU, µs) of the reads issue 20 added, at a 1 Hz-like cadence."""
        res: dict[str, Any] = {}
        if plane is None or plane.sampler._reader is None:
            return res
        dev = plane.sampler._reader.devices[0]
        n = plane.sampler._reader.api.nvml
        calls: dict[str, Any] = {
            "process_utilization": lambda: n.nvmlDeviceGetProcessUtilization(dev.handle, 0),
            "compute_processes": lambda: n.nvmlDeviceGetComputeRunningProcesses(dev.handle)}
        if not FAKE:
            import torch

            calls["torch_memory_stats"] = lambda: torch.cuda.memory_stats(0)
        for name, fn in calls.items():
            cpu: list[float] = []
            for _ in range(10):
                time.sleep(0.2)
                c0 = time.thread_time_ns()
                try:
                    fn()
                except Exception as exc:
                    res[f"{name}_error"] = repr(exc)
                cpu.append((time.thread_time_ns() - c0) / 1000)
            res[name] = {"cpu_us_median": sorted(cpu)[len(cpu) // 2], "cpu_us_max": max(cpu)}
        return res

    return app


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    args = ap.parse_args()
    import uvicorn

    uvicorn.run(build_app(), host="127.0.0.1", port=args.port, log_level="warning", timeout_graceful_shutdown=5)
    return 0


if __name__ == "__main__":
    sys.exit(main())
