"""Record the GPU sample run for notebooks/02_gpu_cost_and_saturation.ipynb on a real NVIDIA GPU.

A small bf16 model (16 Linear 8192x8192 layers) behind FastAPI, instrumented with
``instrument_app(app, gpu=True)`` and exporting OTLP to a real ``infersight collect`` on
127.0.0.1; open-loop phases of different batch sizes and concurrency, then a co-located
"burner" process (large matmuls on the same GPU) while light traffic goes on. The collector's
DuckDB is written out as Parquet (one file per otel table) plus labels.json (the phases).

    python3 notebooks/data/record_gpu_run.py --out notebooks/data/gpu_h100

Nothing here is simulated: every number comes from NVML and the request spans of that run.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from infersight.instrument import GpuOptions

PHASES: list[dict[str, Any]] = [
    # name, seconds, client threads, request sizes (x256 tokens), burner on
    {"name": "idle", "seconds": 6.0, "clients": 0, "sizes": [], "burner": False},
    {"name": "small_batches", "seconds": 25.0, "clients": 2, "sizes": [1, 2, 4], "burner": False},
    {"name": "large_batches", "seconds": 25.0, "clients": 8, "sizes": [8, 16, 32], "burner": False},
    {"name": "colocated_burner", "seconds": 25.0, "clients": 2, "sizes": [1, 2, 4], "burner": True},
    {"name": "idle_tail", "seconds": 6.0, "clients": 0, "sizes": [], "burner": False},
]
BURNER = ("import time, torch\n"
          "a = torch.randn(8192, 8192, dtype=torch.bfloat16, device='cuda')\n"
          "b = torch.randn(8192, 8192, dtype=torch.bfloat16, device='cuda')\n"
          "end = time.monotonic() + {seconds}\n"
          "while time.monotonic() < end:\n"
          "    for _ in range(20):\n"
          "        a @ b\n"
          "    torch.cuda.synchronize()\n")


def _iso(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, timezone.utc).isoformat()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_http(url: str, timeout: float) -> None:
    import httpx

    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {timeout} s")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--instance-type", default="p5.48xlarge")
    ap.add_argument("--scale", type=float, default=1.0, help="multiply every phase's length")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    work = Path(os.environ.get("TMPDIR", "/tmp")) / f"gpu-run-{os.getpid()}"
    work.mkdir(parents=True, exist_ok=True)
    db = work / "telemetry.duckdb"

    http_port = _free_port()
    collector = subprocess.Popen(
        [sys.executable, "-c", "from infersight.cli import main; main()", "collect", "--db", str(db),
         "--http-port", str(http_port), "--grpc-port", "-1", "--log-level", "warning"],
        stdout=subprocess.DEVNULL, stderr=open(work / "collector.log", "wb"))  # noqa: SIM115
    try:
        _wait_http(f"http://127.0.0.1:{http_port}/healthz", 60)
        labels = serve_and_load(f"http://127.0.0.1:{http_port}", args.instance_type, args.scale)
    finally:
        collector.send_signal(signal.SIGTERM)
        collector.wait(60)
    labels_path = work / "labels.json"
    labels_path.write_text(json.dumps(labels, indent=2))
    from infersight.demo.record import write_parquet

    counts = write_parquet(db, labels_path, args.out)
    sys.stdout.write(f"wrote {args.out}: {counts}\n")
    return 0


def serve_and_load(otlp: str, instance_type: str, scale: float) -> dict[str, Any]:
    import httpx
    import torch
    import uvicorn
    from fastapi import FastAPI
    from infersight.instrument import configure, instrument_app, uninstrument_app
    from infersight.instrument.gpu import attribute

    tel = configure("gpu-model-server", endpoint=otlp, export_interval_s=1.0)
    torch.manual_seed(0)
    model = torch.nn.Sequential(*[torch.nn.Linear(8192, 8192, bias=False) for _ in range(16)])
    model = model.to("cuda", torch.bfloat16).eval()
    app = FastAPI()

    @app.post("/v1/embeddings")
    def embed(n: int) -> dict[str, Any]:  # sync: runs in the threadpool, so requests overlap
        tokens = n * 256
        attribute(tokens=tokens)
        with torch.inference_mode():
            x = torch.randn(tokens, 8192, dtype=torch.bfloat16, device="cuda")
            y = model(x)
            torch.cuda.synchronize()
        return {"tokens": tokens, "checksum": float(y[0, 0])}

    instrument_app(app, "gpu-model-server",
                   gpu=GpuOptions(interval_s=0.1, split="tokens", instance_type=instance_type))
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    th = threading.Thread(target=server.run, daemon=True)
    th.start()
    while not server.started:
        time.sleep(0.05)
    url = f"http://127.0.0.1:{port}/v1/embeddings"
    with httpx.Client(timeout=60) as c:  # warm-up: cuBLAS handles, allocator
        for n in (1, 4, 16, 32):
            c.post(url, params={"n": n}).raise_for_status()
    phases: list[dict[str, Any]] = []
    errors: list[str] = []
    for ph in PHASES:
        seconds = ph["seconds"] * scale
        start = time.time_ns()
        stop_at = time.monotonic() + seconds
        burner = None
        if ph["burner"]:
            burner = subprocess.Popen([sys.executable, "-c", BURNER.format(seconds=seconds)])

        def client(k: int, sizes: list[int] = ph["sizes"], stop_at: float = stop_at) -> None:
            i = k
            with httpx.Client(timeout=60) as c:
                while time.monotonic() < stop_at:
                    try:
                        c.post(url, params={"n": sizes[i % len(sizes)]}).raise_for_status()
                    except httpx.HTTPError as exc:
                        errors.append(repr(exc))
                    i += 1

        threads = [threading.Thread(target=client, args=(k,)) for k in range(ph["clients"])]
        for t in threads:
            t.start()
        time.sleep(max(0.0, stop_at - time.monotonic()))
        for t in threads:
            t.join()
        if burner is not None:
            burner.wait(60)
        phases.append({"phase": ph["name"], "start": _iso(start), "end": _iso(time.time_ns()),
                       "clients": ph["clients"], "tokens_per_request": [s * 256 for s in ph["sizes"]],
                       "colocated_burner": ph["burner"]})
    time.sleep(2.0)
    server.should_exit = True
    th.join(10)
    uninstrument_app(app)
    tel.shutdown()
    import pynvml

    pynvml.nvmlInit()
    gpu = str(pynvml.nvmlDeviceGetName(pynvml.nvmlDeviceGetHandleByIndex(0)))
    return {"scenario": "gpu_h100", "description": "bf16 MLP server on one GPU: small vs large batches, then a "
            "co-located matmul burner", "service_name": "gpu-model-server", "gpu": gpu,
            "instance_type": instance_type, "torch": torch.__version__, "phases": phases,
            "client_errors": errors[:10], "client_error_count": len(errors),
            "command": "python3 notebooks/data/record_gpu_run.py --out notebooks/data/gpu_h100"}


if __name__ == "__main__":
    sys.exit(main())
