"""Everything the demo server holds: model + engine, payments DB + pool + sync job, caches,
the downstream client, and the fault switches that turn real code paths on and off."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx
from infersight.demo._caches import CachePolicy, RedisCache, TTLCache
from infersight.demo._config import ServerConfig
from infersight.demo._engine import Engine, PrefixCache
from infersight.demo._errors import DemoConfigError, DownstreamError
from infersight.demo._faults import FAULTS, check_faults
from infersight.demo._model import ModelConfig
from infersight.demo._payments import (
    PaymentStore,
    PaymentWriter,
    Scheduler,
    build_payments_db,
    connect,
)
from infersight.demo._pool import ConnectionPool
from infersight.demo._tokenizer import SPECIALS, Tokenizer
from infersight.instrument import declare_model_device

log = logging.getLogger(__name__)


def load_model(cfg: ServerConfig, tok: Tokenizer) -> Any:
    """NumPy on the CPU by default; PyTorch when asked for, or by default when it sees a CUDA GPU."""
    mcfg = ModelConfig(vocab_size=tok.vocab_size, d_model=cfg.d_model, n_layers=cfg.n_layers,
                       n_heads=cfg.n_heads, d_ff=cfg.d_ff, max_seq=cfg.max_seq, seed=cfg.seed,
                       n_special=len(SPECIALS))
    want_torch = cfg.backend == "torch"
    if cfg.backend == "auto":  # torch only where it pays: a CUDA GPU (tiny matrices are faster in NumPy)
        try:
            import torch

            want_torch = bool(torch.cuda.is_available())
        except ImportError:
            want_torch = False
    if want_torch:
        from infersight.demo._torch_model import TorchDecoder

        device = "cpu" if "gpu_idle" in cfg.faults else None
        return TorchDecoder(mcfg, device=device)
    from infersight.demo._model import NumpyDecoder

    return NumpyDecoder(mcfg)


class AppState:
    def __init__(self, cfg: ServerConfig) -> None:
        self.cfg = cfg
        self.tokenizer = Tokenizer()
        self.model = load_model(cfg, self.tokenizer)
        self.model_name = self.model.cfg.name
        # where it serves (the GPU plane bills no GPU time to requests of a model on the CPU)
        declare_model_device(getattr(self.model, "device", "cpu"), name=self.model_name)
        self.prefix_cache = PrefixCache(block_size=16, max_blocks=256)
        self.engine = Engine(self.model, max_batch=cfg.max_batch, prefix_cache=self.prefix_cache,
                             eos_id=self.tokenizer.eos_id)
        self.response_cache = TTLCache(cfg.cache_capacity)
        self.cache_policy = CachePolicy(ttl=cfg.cache_ttl)
        self.embed_cache: TTLCache | RedisCache = TTLCache(4096)
        if cfg.redis_url:
            try:
                self.embed_cache = RedisCache(cfg.redis_url)
            except ImportError:
                log.warning("--redis-url given but the 'redis' package is missing (pip install redis): "
                            "the embedding cache stays in-process")
        self.pool = ConnectionPool(self._connect, size=cfg.pool_size, timeout=cfg.pool_timeout,
                                   name="payments_db")
        self.store = PaymentStore(self.pool)
        self.scheduler: Scheduler | None = None
        self.writer: PaymentWriter | None = None
        self.recent_features: deque[list[dict[str, Any]]] = deque(maxlen=48)
        self.http: httpx.AsyncClient | None = None
        self.active: dict[str, str] = {}  # fault -> ISO start time
        self.history: list[dict[str, str]] = []
        self.gpu_burner: Any = None
        self.providers: dict[str, Any] = {}
        self.tracer: Any = None

    def _connect(self) -> Any:
        return connect(self.cfg.db_path)

    # --- lifecycle ------------------------------------------------------------------------
    async def start(self, run_job: Any = None) -> None:
        await asyncio.to_thread(build_payments_db, Path(self.cfg.db_path), self.cfg.rows, self.cfg.users)
        self.engine.start()
        self.http = httpx.AsyncClient(timeout=self.cfg.downstream_timeout,
                                      limits=httpx.Limits(max_connections=64, max_keepalive_connections=16))
        self.scheduler = Scheduler(self.store, self.cfg.sync_period, run_job)
        self.writer = PaymentWriter(self.pool, self.cfg.users, rate=self.cfg.writer_rate)
        for name in self.cfg.faults:
            await self.set_fault(name, True)
        self.scheduler.start()
        self.writer.start()

    async def stop(self) -> None:
        for name in list(self.active):
            try:
                await self.set_fault(name, False)
            except Exception:
                log.warning("turning off %s failed", name, exc_info=True)
        if self.scheduler is not None:
            await asyncio.to_thread(self.scheduler.stop)
        if self.writer is not None:
            await asyncio.to_thread(self.writer.stop)
        await asyncio.to_thread(self.engine.stop)
        if self.http is not None:
            await self.http.aclose()
        if isinstance(self.embed_cache, RedisCache):
            await self.embed_cache.close()
        self.pool.close()

    # --- faults ---------------------------------------------------------------------------
    def fault_state(self) -> dict[str, Any]:
        return {"active": dict(self.active), "history": list(self.history), "known": list(FAULTS)}

    async def set_fault(self, name: str, on: bool) -> None:
        check_faults([name])
        if on == (name in self.active):
            return
        await self._apply(name, on)
        now = datetime.now(timezone.utc).isoformat()
        if on:
            self.active[name] = now
        else:
            self.history.append({"fault": name, "start": self.active.pop(name), "end": now})
        log.warning("fault %s %s", name, "ON" if on else "off")

    async def _apply(self, name: str, on: bool) -> None:
        cfg = self.cfg
        if name == "full_sync":
            self.store.mode = "full" if on else "incremental"
        elif name == "gc_storm":
            if not on:  # the fix ships: the retained snapshots go away
                self.recent_features.clear()
        elif name == "cache_stampede":
            self.cache_policy.stampede = on
        elif name == "cold_cache":
            self.response_cache.resize(1 if on else cfg.cache_capacity)
            if on:
                self.response_cache.clear()
                self.prefix_cache.clear()
            self.prefix_cache.max_blocks = 4 if on else 256
        elif name == "pool_exhaustion":
            self.pool.resize(1 if on else cfg.pool_size)
        elif name == "slow_downstream":
            if not cfg.downstream_url or self.http is None:
                raise DemoConfigError("slow_downstream needs a downstream service (--downstream-url)")
            r = await self.http.post(f"{cfg.downstream_url}/admin/mode", json={"slow": on})
            r.raise_for_status()
        elif name == "gpu_contention":
            from infersight.demo._gpu import GpuBurner

            # off the event loop: the burner's CUDA start-up takes seconds, and stalling the
            # loop here would inject a second fault (every request waiting) next to the GPU one
            if on and self.gpu_burner is None:
                burner = GpuBurner()
                await asyncio.to_thread(burner.start)
                self.gpu_burner = burner
            elif not on and self.gpu_burner is not None:
                burner, self.gpu_burner = self.gpu_burner, None
                await asyncio.to_thread(burner.stop)
        elif name == "gpu_idle":
            if getattr(self.model, "device", "cpu") != "cpu" or not self._gpu_present():
                raise DemoConfigError("gpu_idle is a start-up fault (serve --fault gpu_idle) on a GPU machine")
        # gc_storm and event_loop_block are (also) read on the request path via self.active

    @staticmethod
    def _gpu_present() -> bool:
        try:
            import torch

            return bool(torch.cuda.is_available())
        except ImportError:
            return False

    # --- request-path helpers -------------------------------------------------------------
    async def downstream_score(self, account: int) -> float:
        if not self.cfg.downstream_url or self.http is None:
            return 0.0
        last: Exception | None = None
        for _attempt in range(2):  # one retry
            try:
                r = await self.http.post(f"{self.cfg.downstream_url}/score", json={"account": account})
                r.raise_for_status()
                return float(r.json()["score"])
            except (httpx.HTTPError, KeyError, ValueError) as exc:
                last = exc
        raise DownstreamError(f"risk service failed: {last!r}")

    def build_features(self, payments: list[dict[str, Any]]) -> dict[str, float]:
        """Per-request risk features; under ``gc_storm`` an allocation burst kept alive a while."""
        total = sum(p["amount_cents"] for p in payments)
        feats = {"n": float(len(payments)), "total": float(total),
                 "max": float(max((p["amount_cents"] for p in payments), default=0))}
        if "gc_storm" in self.active:
            # "debug snapshot" of 20k feature candidates (a dict and a list each), the last 48 kept
            src = payments or [{"amount_cents": 0, "merchant": "x"}]
            burst = [{"i": i, "v": (src[i % len(src)]["amount_cents"] + i) % 97, "tags": [src[i % len(src)]["merchant"]]}
                     for i in range(20_000)]
            self.recent_features.append(burst)
        return feats

    def moderation_work(self, prompt_ids: list[int], text: str) -> bool:
        """A moderation pass: a model forward over the prompt and a text scan (CPU work)."""
        hidden = self.model.hidden_states(prompt_ids[-512:])
        flagged = float(abs(hidden).mean()) > 10.0
        banned = ("card number", "cvv", "password")
        lowered = text.lower()
        for _ in range(8):
            flagged = flagged or any(b in lowered for b in banned)
            lowered = "".join(ch for ch in lowered if ch.isprintable())
        return flagged


__all__ = ["AppState", "load_model"]
