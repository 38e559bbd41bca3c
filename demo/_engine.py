"""The inference engine: a prefix cache and a scheduler thread with continuous batching.

Requests wait in a FIFO queue (the ``gen_ai.queue`` time), are admitted while fewer than
``max_batch`` sequences are running (prefill, reusing block-aligned prefix KV from the prefix
cache), then every running sequence gets one decode step per scheduler iteration. Tokens are
handed to ``on_token`` from the engine thread; the engine knows nothing about HTTP or spans:
it records timestamps (``time.time_ns()``) that the server turns into spans.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
from infersight.demo._errors import DemoConfigError, DemoError
from infersight.demo._model import sample

log = logging.getLogger(__name__)


class Decoder(Protocol):
    cfg: Any
    backend: str
    device: str

    def new_cache(self, capacity: int | None = None) -> Any: ...
    def forward(self, tokens: list[int], cache: Any, *, all_logits: bool = False) -> Any: ...
    def hidden_states(self, tokens: list[int]) -> Any: ...


class PrefixCache:
    """Block-aligned prefix KV reuse, LRU-bounded to ``max_blocks`` blocks.

    Block ``i`` is keyed by a hash chained over blocks ``0..i`` (so a key names the whole
    prefix, as in vLLM's automatic prefix caching), and holds that block's K/V only.
    """

    def __init__(self, block_size: int = 16, max_blocks: int = 256) -> None:
        self.block_size = block_size
        self.max_blocks = max_blocks
        self._blocks: OrderedDict[int, tuple[Any, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def _keys(self, ids: list[int], n_blocks: int) -> list[int]:
        keys, h, bs = [], 0, self.block_size
        for i in range(n_blocks):
            h = hash((h, tuple(ids[i * bs:(i + 1) * bs])))
            keys.append(h)
        return keys

    def load(self, ids: list[int], cache: Any) -> int:
        """Copy the longest cached prefix of ``ids`` into ``cache``; returns its token count.

        At least one prompt token is always left to compute (its logits start decoding).
        """
        n_blocks = (len(ids) - 1) // self.block_size
        hit = 0
        with self._lock:
            for key in self._keys(ids, n_blocks):
                block = self._blocks.get(key)
                if block is None:
                    break
                self._blocks.move_to_end(key)
                cache.import_block(hit, *block)
                hit += self.block_size
        return hit

    def store(self, ids: list[int], cache: Any) -> None:
        bs = self.block_size
        n_blocks = min(len(ids), cache.length) // bs
        with self._lock:
            for i, key in enumerate(self._keys(ids, n_blocks)):
                if key in self._blocks:
                    self._blocks.move_to_end(key)
                    continue
                self._blocks[key] = cache.export_block(i * bs, (i + 1) * bs)
                while len(self._blocks) > self.max_blocks:
                    self._blocks.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._blocks.clear()

    def __len__(self) -> int:
        return len(self._blocks)


@dataclass
class GenRequest:
    """One generation; the engine fills in the timestamps and the output."""

    prompt_ids: list[int]
    max_tokens: int
    temperature: float = 0.0
    seed: int = 0
    on_token: Callable[[int | None], None] | None = None
    enqueued_ns: int = 0
    admitted_ns: int = 0
    prefill_end_ns: int = 0
    first_token_ns: int = 0
    done_ns: int = 0
    prefix_hit_tokens: int = 0
    output_ids: list[int] = field(default_factory=list)
    error: BaseException | None = None
    finish_reason: str = "length"
    done: threading.Event = field(default_factory=threading.Event)
    # engine-private
    _cache: Any = None
    _logits: Any = None
    _rng: Any = None


class Engine:
    """Owns the model and runs the scheduler thread (``start()``/``stop()``)."""

    def __init__(self, model: Decoder, *, max_batch: int = 8, prefix_cache: PrefixCache | None = None,
                 eos_id: int | None = None, max_queue: int = 1024) -> None:
        self.model = model
        self.max_batch = max_batch
        self.prefix_cache = prefix_cache if prefix_cache is not None else PrefixCache()
        self.eos_id = eos_id
        self._queue: queue.Queue[GenRequest] = queue.Queue(maxsize=max_queue)
        self._active: list[GenRequest] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # --- lifecycle ------------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._loop, name="infersight-demo-engine", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        for req in self._active:
            self._fail(req, DemoError("engine stopped"))
        self._active.clear()
        while True:
            try:
                self._fail(self._queue.get_nowait(), DemoError("engine stopped"))
            except queue.Empty:
                break

    @property
    def queue_depth(self) -> int:
        return self._queue.qsize()

    # --- API ------------------------------------------------------------------------------
    def check(self, prompt_ids: list[int], max_tokens: int) -> None:
        """Raise :class:`DemoConfigError` when a request cannot fit the model."""
        if not prompt_ids:
            raise DemoConfigError("empty prompt")
        if max_tokens < 1:
            raise DemoConfigError("max_tokens must be >= 1")
        limit = self.model.cfg.max_seq
        if len(prompt_ids) + max_tokens > limit:
            raise DemoConfigError(f"prompt ({len(prompt_ids)} tokens) + max_tokens ({max_tokens}) "
                              f"exceeds the model's context of {limit} tokens")

    def submit(self, req: GenRequest) -> GenRequest:
        """Queue ``req``; raises :class:`DemoConfigError` when it cannot fit the model."""
        self.check(req.prompt_ids, req.max_tokens)
        req.enqueued_ns = time.time_ns()
        try:
            self._queue.put_nowait(req)
        except queue.Full:
            raise DemoError("engine queue is full") from None
        return req

    def generate(self, prompt_ids: list[int], max_tokens: int, temperature: float = 0.0,
                 seed: int = 0) -> GenRequest:
        """Blocking helper (tests, scripts): submit and wait."""
        req = GenRequest(prompt_ids, max_tokens, temperature, seed)
        if self._thread is None:
            self.run_here(req)
        else:
            self.submit(req)
        req.done.wait()
        if req.error is not None:
            raise req.error
        return req

    def run_here(self, req: GenRequest) -> GenRequest:
        """Generate ``req`` synchronously in the calling thread, bypassing the scheduler.

        Called from an ``async def`` handler this blocks the event loop for the whole
        generation: the ``event_loop_block`` fault.
        """
        self.check(req.prompt_ids, req.max_tokens)
        req.enqueued_ns = time.time_ns()
        self._admit(req, track=False)
        while not req.done.is_set():
            self._step(req)
        return req

    # --- scheduler ------------------------------------------------------------------------
    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                while len(self._active) < self.max_batch:
                    block = not self._active
                    req = self._queue.get(timeout=0.1) if block else self._queue.get_nowait()
                    self._admit(req)
            except queue.Empty:
                pass
            for req in list(self._active):
                self._step(req)

    def _admit(self, req: GenRequest, track: bool = True) -> None:
        req.admitted_ns = time.time_ns()
        try:
            cache = self.model.new_cache(len(req.prompt_ids) + req.max_tokens)
            hit = self.prefix_cache.load(req.prompt_ids, cache)
            logits = self.model.forward(req.prompt_ids[hit:], cache)
            self.prefix_cache.store(req.prompt_ids, cache)
        except Exception as exc:  # a bad request must not kill the engine
            log.exception("prefill failed")
            self._fail(req, exc)
            return
        req.prefix_hit_tokens = hit
        req.prefill_end_ns = time.time_ns()
        req._cache, req._logits = cache, logits
        req._rng = np.random.default_rng(req.seed)
        if track and req not in self._active:
            self._active.append(req)

    def _step(self, req: GenRequest) -> None:
        try:
            tok = sample(req._logits, req.temperature, req._rng)
            req.output_ids.append(tok)
            if not req.first_token_ns:
                req.first_token_ns = time.time_ns()
            if req.on_token is not None:
                req.on_token(tok)
            finished = len(req.output_ids) >= req.max_tokens or tok == self.eos_id
            if tok == self.eos_id:
                req.finish_reason = "stop"
            if not finished:
                req._logits = self.model.forward([tok], req._cache)
        except Exception as exc:
            log.exception("decode failed")
            self._fail(req, exc)
            return
        if finished:
            self._finish(req)

    def _finish(self, req: GenRequest) -> None:
        req.done_ns = time.time_ns()
        req._cache = req._logits = req._rng = None
        if req in self._active:
            self._active.remove(req)
        if req.on_token is not None:
            req.on_token(None)
        req.done.set()

    def _fail(self, req: GenRequest, exc: BaseException) -> None:
        req.error = exc
        self._finish(req)


__all__ = ["Decoder", "Engine", "GenRequest", "PrefixCache"]
