"""Record a real GPU server's /metrics for the dashboard validation test (run on a GPU machine).

A FastAPI server instrumented with ``instrument_app(app, gpu=True)`` runs a stack of bf16
Linear layers per request under closed-loop load for ~20 s; its /metrics text (Prometheus
format 0.0.4) is written to ``--out``. tests/dashboards/test_prometheus_live.py replays it.

    python3 tests/dashboards/data/record_gpu_metrics.py --out gpu_metrics_recorded.txt

(The committed gpu_metrics_recorded.txt came from the H100 device machine; see its header.)
"""

from __future__ import annotations

import argparse
import socket
import threading
import time
from typing import Any

from infersight.instrument import GpuOptions


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--seconds", type=float, default=20.0)
    args = ap.parse_args()

    import httpx
    import pynvml
    import torch
    import uvicorn
    from fastapi import FastAPI
    from infersight.instrument import instrument_app, uninstrument_app
    from infersight.instrument.gpu import attribute

    model = torch.nn.Sequential(*[torch.nn.Linear(8192, 8192, bias=False) for _ in range(8)])
    model = model.to("cuda", torch.bfloat16).eval()
    app = FastAPI()

    @app.post("/infer")
    def infer(n: int) -> dict[str, Any]:
        tokens = n * 256
        attribute(tokens=tokens)
        with torch.inference_mode():
            y = model(torch.randn(tokens, 8192, dtype=torch.bfloat16, device="cuda"))
            torch.cuda.synchronize()
        return {"tokens": tokens, "checksum": float(y[0, 0])}

    instrument_app(app, service_name="gpu-recording", endpoint=None,
                   gpu=GpuOptions(interval_s=0.1, instance_type="p5.48xlarge"), instrument_clients=False)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    th = threading.Thread(target=server.run, daemon=True)
    th.start()
    while not server.started:
        time.sleep(0.05)
    url = f"http://127.0.0.1:{port}"
    stop = time.monotonic() + args.seconds

    def client(k: int) -> None:
        i = k
        with httpx.Client(timeout=60) as c:
            while time.monotonic() < stop:
                c.post(f"{url}/infer", params={"n": (4, 8, 16, 32)[i % 4]}).raise_for_status()
                i += 1

    threads = [threading.Thread(target=client, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    time.sleep(args.seconds * 0.8)
    text = httpx.get(f"{url}/metrics").text  # under load: utilisation, power, clocks are live
    for t in threads:
        t.join()
    time.sleep(0.3)
    final = httpx.get(f"{url}/metrics").text
    pynvml.nvmlInit()
    gpu = pynvml.nvmlDeviceGetName(pynvml.nvmlDeviceGetHandleByIndex(0))
    header = (f"# Recorded by tests/dashboards/data/record_gpu_metrics.py on {gpu!s} at "
              f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}, {args.seconds:.0f} s of bf16 load\n"
              "# (gauges under load, counters at the end of the run)\n")
    # A sample's identity is everything before its value (label values may hold spaces).
    under_load = {ln.rsplit(" ", 1)[0]: ln for ln in text.splitlines() if ln and not ln.startswith("#")}
    lines = []
    for ln in final.splitlines():
        series = ln.rsplit(" ", 1)[0]
        name = series.split("{")[0]
        kind_counter = name.endswith(("_total", "_bucket", "_sum", "_count"))
        lines.append(ln if ln.startswith("#") or kind_counter or series not in under_load else under_load[series])
    with open(args.out, "w") as f:
        f.write(header + "\n".join(lines) + "\n")
    server.should_exit = True
    th.join(10)
    uninstrument_app(app)
    print(f"wrote {args.out}: {sum(1 for ln in lines if ln.startswith('infersight_gpu'))} GPU samples")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
