"""Start, drive and stop a real ``vllm serve`` for the vLLM tests and the overhead benchmark."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from tests.conftest import free_port

from .conftest import ROOT, VLLM_VENV

VLLM = VLLM_VENV / "bin" / "vllm"
MODEL = Path(os.environ.get("INFERSIGHT_VLLM_MODEL", ROOT / ".vllm-model")).resolve()
CLIENT_SPAN = "b7ad6b7169203331"


def group_pids(pgid: int) -> set[int]:
    """Live (non-zombie) processes of a process group, from /proc."""
    pids = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            pids.add(int(stat.parent.name))
    return pids


def stop_group(proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    """SIGTERM the whole group (API server, EngineCore, Worker), SIGKILL what is left."""
    pgid = proc.pid  # started with start_new_session: its pid is the group id
    try:
        os.killpg(pgid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while group_pids(pgid) and time.monotonic() < deadline:
        try:
            proc.wait(timeout=0.5)
        except subprocess.TimeoutExpired:
            pass
    if group_pids(pgid):
        os.killpg(pgid, signal.SIGKILL)
        proc.wait(timeout=10)


def ensure_model() -> None:
    if not (MODEL / "config.json").exists():
        subprocess.run([str(VLLM_VENV / "bin" / "python"), str(Path(__file__).with_name("build_model.py")),
                        str(MODEL)], check=True, timeout=300, capture_output=True)


def start(collector_url: str, log_path: Path, env_extra: dict[str, str]) -> tuple[subprocess.Popen[bytes], int]:
    """``vllm serve`` on a free port in its own process group, tracing to the collector."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "INFERSIGHT_", "VLLM_"))}
    env.update({"HF_HUB_OFFLINE": "1", "VLLM_TARGET_DEVICE": "cpu", "VLLM_CPU_KVCACHE_SPACE": "1",
                "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/protobuf", "OTEL_SERVICE_NAME": "glm-vllm",
                "OTEL_METRIC_EXPORT_INTERVAL": "1000", **env_extra})
    cmd = [str(VLLM), "serve", str(MODEL), "--host", "127.0.0.1", "--port", str(port), "--dtype", "float32",
           "--max-model-len", "256", "--max-num-seqs", "8", "--enforce-eager",
           "--otlp-traces-endpoint", f"{collector_url}/v1/traces"]
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=log_path.parent,
                                start_new_session=True)
    return proc, port


def wait_ready(client: Any, proc: subprocess.Popen[bytes], port: int, log_path: Path,
               timeout: float = 180.0) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"vllm serve exited:\n{log_path.read_text()[-4000:]}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"vllm not ready after {timeout} s:\n{log_path.read_text()[-4000:]}")
        try:
            if client.get(f"http://127.0.0.1:{port}/health").status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.5)


def chat(client: Any, port: int, stream: bool, i: int, max_tokens: int = 24) -> dict[str, Any]:
    """One chat completion with a client traceparent; returns its trace id and times."""
    trace_id = secrets.token_hex(16)
    body = {"model": str(MODEL), "max_tokens": max_tokens, "stream": stream,
            "messages": [{"role": "user", "content": f"why is the p99 slow {i}"}]}
    headers = {"traceparent": f"00-{trace_id}-{CLIENT_SPAN}-01"}
    url = f"http://127.0.0.1:{port}/v1/chat/completions"
    t0 = time.time_ns()
    if stream:
        with client.stream("POST", url, json=body, headers=headers) as resp:
            resp.raise_for_status()
            chunks = [line for line in resp.iter_lines() if line.startswith("data: ")]
        if chunks[-1] != "data: [DONE]":
            raise AssertionError(f"stream did not end with [DONE]: {chunks[-3:]}")
    else:
        resp = client.post(url, json=body, headers=headers)
        resp.raise_for_status()
        if resp.json()["usage"]["completion_tokens"] <= 0:
            raise AssertionError(f"no completion tokens: {resp.text[:300]}")
    return {"trace_id": trace_id, "stream": stream, "start_ns": t0, "end_ns": time.time_ns()}
