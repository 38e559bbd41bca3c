"""Decode + convert OTLP bodies in worker processes, so ingest uses more than one core.

The HTTP side hands a raw body to a worker (``ProcessPoolExecutor``, spawn start method), which
parses the protobuf/JSON, builds the Arrow tables and returns them as Arrow IPC bytes; the main
process only does HTTP, reads the IPC (near zero-copy) and queues the tables for the writer.
A worker that dies is replaced; meanwhile requests are converted in-process.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import multiprocessing
import os
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

import pyarrow as pa

from ._signals import SIGNALS, Signal
from ._traces import Converted

logger = logging.getLogger(__name__)

_Result = tuple[dict[str, bytes], int, int, str]


def _work(signal: str, body: bytes, ctype: str) -> _Result:
    sig = SIGNALS[signal]
    conv = sig.convert(sig.decode(body, ctype))
    out: dict[str, bytes] = {}
    for name, table in conv.tables.items():
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
        out[name] = sink.getvalue().to_pybytes()
    return out, conv.accepted, conv.rejected, conv.reason


def _ping() -> int:
    return 1


def _init_worker(parent: int) -> None:
    """Worker initializer: exit when the collector is gone (kill -9 leaves no orphan workers).

    Also: the converters make many short-lived acyclic objects (a tuple per span), so the young
    generation is collected every 50k allocations instead of 700 (~10% of a worker's CPU), and
    the imported modules are moved out of the collector's sight (``gc.freeze``).
    """
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)

    def watch() -> None:
        while True:
            time.sleep(1.0)
            if os.getppid() != parent:
                os._exit(0)

    threading.Thread(target=watch, name="infersight-parent-watch", daemon=True).start()


def _executor(workers: int) -> ProcessPoolExecutor:
    return ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_init_worker, initargs=(os.getpid(),))


class DecodePool:
    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._ex: ProcessPoolExecutor | None = None

    def start(self) -> None:
        self._ex = _executor(self.workers)
        for f in [self._ex.submit(_ping) for _ in range(self.workers)]:
            f.result(timeout=120)  # workers imported and ready

    async def convert(self, sig: Signal, body: bytes, ctype: str) -> Converted:
        ex = self._ex
        if ex is None:
            return sig.convert(sig.decode(body, ctype))
        loop = asyncio.get_running_loop()
        try:
            ipc, accepted, rejected, reason = await loop.run_in_executor(ex, _work, sig.name, body, ctype)
        except BrokenProcessPool:
            logger.error("a decode worker died; restarting the pool")
            self._restart(ex)
            return sig.convert(sig.decode(body, ctype))
        conv = Converted()
        conv.accepted, conv.rejected, conv.reason = accepted, rejected, reason
        conv.tables = {name: pa.ipc.open_stream(data).read_all() for name, data in ipc.items()}
        return conv

    def _restart(self, broken: ProcessPoolExecutor) -> None:
        if self._ex is broken:
            self._ex = _executor(self.workers)
            broken.shutdown(wait=False, cancel_futures=True)

    def stop(self) -> None:
        if self._ex is not None:
            self._ex.shutdown(wait=True, cancel_futures=True)
            self._ex = None
