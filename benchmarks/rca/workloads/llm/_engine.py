"""A tiny CPU language model and a continuous-batching engine thread around it.

The "model" is a stack of NumPy matrices (a few ms per decode step for a batch of 8 on one core);
its tokens mean nothing, its costs are real: prefill is proportional to the prompt length, a
decode step to the batch. The engine thread admits waiting sequences between steps (continuous
batching), runs at most one prefill chunk per step, and hands tokens to the event loop.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import queue
import threading
import time
import zlib
from collections.abc import Callable

import numpy as np

logger = logging.getLogger(__name__)

VOCAB, HIDDEN, LAYERS = 4096, 512, 4
PREFILL_CHUNK = 256  # tokens per prefill slice: long prefixes are interleaved with decode steps


def tokenize(text: str) -> list[int]:
    return [zlib.crc32(w.encode()) % VOCAB for w in text.split()]


class TinyLM:
    def __init__(self, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        scale = 1.0 / np.sqrt(HIDDEN)
        self.embed = (rng.standard_normal((VOCAB, HIDDEN)) * 0.1).astype(np.float32)
        self.layers = [(rng.standard_normal((HIDDEN, HIDDEN)) * scale).astype(np.float32) for _ in range(LAYERS)]
        self.out = (rng.standard_normal((HIDDEN, VOCAB)) * scale).astype(np.float32)

    def prefill(self, tokens: list[int], state: np.ndarray | None) -> np.ndarray:
        """The state after reading ``tokens`` (a stand-in for a KV cache: cost ~ len(tokens))."""
        h = np.zeros(HIDDEN, np.float32) if state is None else state
        for i in range(0, len(tokens), PREFILL_CHUNK):
            x = self.embed[tokens[i:i + PREFILL_CHUNK]] + h
            for w in self.layers:
                x = np.tanh(x @ w)
            h = x.mean(axis=0)
        return h

    def decode(self, states: np.ndarray, last: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        h = states + self.embed[last]
        for w in self.layers:
            h = np.tanh(h @ w)
        return (h @ self.out).argmax(axis=1), h


@dataclasses.dataclass(eq=False)
class Sequence:
    """One generation: its prompt, where its tokens go (an asyncio queue), and its progress."""

    prefix_state: np.ndarray
    prompt: list[int]
    max_tokens: int
    deliver: Callable[[int | None], object]  # thread-safe: a token, or None at the end
    produced: int = 0
    cancelled: bool = False
    state: np.ndarray | None = None
    last: int = 0


@dataclasses.dataclass(eq=False)
class _Prefill:
    tokens: list[int]
    done: Callable[[np.ndarray], None]


class Engine:
    """The engine thread. ``step_hook`` runs after each decode step (the ``engine_slowdown`` fault)."""

    def __init__(self, model: TinyLM, max_batch: int = 8,
                 step_hook: Callable[[], None] = lambda: None) -> None:
        self.model, self.max_batch, self.step_hook = model, max_batch, step_hook
        self._inbox: queue.Queue[Sequence | _Prefill] = queue.Queue()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="engine", daemon=True)
        self.steps = 0

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5.0)

    async def prefill(self, tokens: list[int]) -> np.ndarray:
        """Run a prefill on the engine (between decode steps) and wait for the state."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[np.ndarray] = loop.create_future()

        def resolve(state: np.ndarray) -> None:
            if not fut.done():  # the waiting request may have been cancelled
                fut.set_result(state)

        def done(state: np.ndarray) -> None:
            loop.call_soon_threadsafe(resolve, state)

        self._inbox.put(_Prefill(tokens, done))
        return await fut

    def submit(self, seq: Sequence) -> None:
        self._inbox.put(seq)

    def _run(self) -> None:
        active: list[Sequence] = []
        waiting: list[Sequence] = []
        prefills: list[_Prefill] = []
        while not self._stop.is_set():
            try:
                block = not (active or waiting or prefills)
                while True:
                    item = self._inbox.get(block=block, timeout=0.05 if block else None)
                    if isinstance(item, _Prefill):
                        prefills.append(item)
                    else:
                        waiting.append(item)
                    block = False
            except queue.Empty:
                pass
            try:
                self._step(active, waiting, prefills)
            except Exception:  # a broken step must not kill the engine: end what it was doing
                logger.exception("engine step failed")
                for seq in active:
                    seq.deliver(None)
                active.clear()

    def _step(self, active: list[Sequence], waiting: list[Sequence], prefills: list[_Prefill]) -> None:
        if prefills:
            job = prefills.pop(0)
            job.done(self.model.prefill(job.tokens, None))
        while waiting and len(active) < self.max_batch:
            seq = waiting.pop(0)
            seq.state = self.model.prefill(seq.prompt, seq.prefix_state)
            seq.last = seq.prompt[-1] if seq.prompt else 0
            active.append(seq)
        active[:] = [s for s in active if not s.cancelled]
        if not active:
            return
        states = np.stack([s.state for s in active if s.state is not None])
        tokens, states = self.model.decode(states, np.array([s.last for s in active]))
        self.steps += 1
        self.step_hook()
        for i, seq in enumerate(active):
            seq.state, seq.last = states[i], int(tokens[i])
            seq.produced += 1
            seq.deliver(seq.last)
            if seq.produced >= seq.max_tokens:
                seq.deliver(None)
        active[:] = [s for s in active if s.produced < s.max_tokens]


def measure_step_ms(model: TinyLM, batch: int = 8, n: int = 20) -> float:
    states = np.zeros((batch, HIDDEN), np.float32)
    last = np.zeros(batch, np.int64)
    t = time.perf_counter()
    for _ in range(n):
        last, states = model.decode(states, last)
    return (time.perf_counter() - t) / n * 1e3


__all__ = ["Engine", "Sequence", "TinyLM", "measure_step_ms", "tokenize"]
