"""Test-only vLLM plugin: a periodic allocation-heavy "full sync" job in the API server.

The fintech incident in miniature, inside vLLM's API server process: every
``INFERSIGHT_TEST_FAULT_PERIOD_S`` seconds (default 2) a job pulls a "payment table" of
``INFERSIGHT_TEST_FAULT_ROWS`` rows (default 300k) into memory as dicts and keeps the last
three copies, so the garbage reaches generation 2 and full collections stall the process.
It runs only while the file named by ``INFERSIGHT_TEST_FAULT_FILE`` exists (so a test can
record a clean phase first) and reports each run with infersight's ``traced_job``.
Installed for a test by putting this folder on ``PYTHONPATH`` (its dist-info declares the
``vllm.general_plugins`` entry point); never shipped.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import threading
import time


def register() -> None:
    if multiprocessing.current_process().name != "MainProcess" or "serve" not in sys.argv[1:3]:
        return  # API server only
    threading.Thread(target=_run, name="payments-full-sync", daemon=True).start()


def _run() -> None:
    from infersight.instrument import traced_job

    period = float(os.environ.get("INFERSIGHT_TEST_FAULT_PERIOD_S", "2"))
    rows = int(os.environ.get("INFERSIGHT_TEST_FAULT_ROWS", "300000"))
    gate = os.environ.get("INFERSIGHT_TEST_FAULT_FILE", "")
    kept: list[list[dict[str, object]]] = []
    while True:
        time.sleep(period)
        if gate and not os.path.exists(gate):
            continue
        with traced_job("payments_full_sync") as job:
            table = [{"id": i, "amount": i * 0.01, "currency": "EUR", "meta": {"shard": i % 7}}
                     for i in range(rows)]
            kept.append(table)
            del kept[:-3]
            job.rows = len(table)
