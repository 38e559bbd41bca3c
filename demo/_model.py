"""A small GLM/GPT-style decoder that really computes every token, in NumPy.

Pre-norm blocks (RMSNorm), rotary position embeddings, multi-head causal self-attention with a
KV cache, a SwiGLU MLP and a tied output head. Weights are drawn from a seeded generator at
start-up, so the same seed gives the same model (and the same tokens) on every machine.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from infersight.demo._errors import DemoConfigError
from numpy.typing import NDArray

F32 = NDArray[np.float32]


@dataclass(frozen=True)
class ModelConfig:
    vocab_size: int
    d_model: int = 256
    n_layers: int = 6
    n_heads: int = 8
    d_ff: int = 768
    max_seq: int = 1024
    seed: int = 1234
    n_special: int = 0  # the last n ids are special tokens: never sampled
    name: str = "infersight-glm-tiny"

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_heads


class KVCache:
    """Per-layer keys and values for up to ``capacity`` positions (default ``max_seq``)."""

    def __init__(self, cfg: ModelConfig, capacity: int | None = None) -> None:
        self.capacity = min(capacity or cfg.max_seq, cfg.max_seq)
        shape = (cfg.n_layers, cfg.n_heads, self.capacity, cfg.head_dim)
        self.k = np.zeros(shape, dtype=np.float32)
        self.v = np.zeros(shape, dtype=np.float32)
        self.length = 0

    def export_block(self, start: int, end: int) -> tuple[F32, F32]:
        """A copy of positions ``start:end`` (for the prefix cache)."""
        return self.k[:, :, start:end].copy(), self.v[:, :, start:end].copy()

    def import_block(self, start: int, k: F32, v: F32) -> None:
        end = start + k.shape[2]
        self.k[:, :, start:end] = k
        self.v[:, :, start:end] = v
        self.length = max(self.length, end)


def _rms_norm(x: F32, w: F32) -> F32:
    return (x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + 1e-5) * w).astype(np.float32)


class NumpyDecoder:
    """The decoder; :meth:`forward` appends ``tokens`` to ``cache`` and returns their logits."""

    backend = "numpy"
    device = "cpu"

    def __init__(self, cfg: ModelConfig) -> None:
        if cfg.d_model % cfg.n_heads:
            raise DemoConfigError("d_model must be a multiple of n_heads")
        self.cfg = cfg
        rng = np.random.default_rng(cfg.seed)

        def w(*shape: int, scale: float) -> F32:
            return (rng.standard_normal(shape) * scale).astype(np.float32)

        d, f = cfg.d_model, cfg.d_ff
        self.embed = w(cfg.vocab_size, d, scale=1.0)
        self.layers = []
        for _ in range(cfg.n_layers):
            self.layers.append({
                "attn_norm": np.ones(d, dtype=np.float32),
                "wqkv": w(d, 3 * d, scale=d ** -0.5),
                "wo": w(d, d, scale=d ** -0.5),
                "mlp_norm": np.ones(d, dtype=np.float32),
                "w_gate_up": w(d, 2 * f, scale=d ** -0.5),
                "w_down": w(f, d, scale=f ** -0.5),
            })
        self.final_norm = np.ones(d, dtype=np.float32)
        self.lm_head = w(d, cfg.vocab_size, scale=4.0 * d ** -0.5)
        if cfg.n_special:  # the chat-template tags are never generated
            self.lm_head[:, cfg.vocab_size - cfg.n_special:] = 0.0
            self.logit_bias = np.zeros(cfg.vocab_size, dtype=np.float32)
            self.logit_bias[cfg.vocab_size - cfg.n_special:] = -np.inf
        else:
            self.logit_bias = np.zeros(cfg.vocab_size, dtype=np.float32)
        hd = cfg.head_dim
        inv = 1.0 / (10000.0 ** (np.arange(0, hd, 2, dtype=np.float64) / hd))
        ang = np.outer(np.arange(cfg.max_seq, dtype=np.float64), inv)
        self._cos = np.cos(ang).astype(np.float32)
        self._sin = np.sin(ang).astype(np.float32)

    def new_cache(self, capacity: int | None = None) -> KVCache:
        return KVCache(self.cfg, capacity)

    def _rope(self, x: F32, start: int) -> F32:
        # x: [heads, T, hd]; rotate pairs (even, odd)
        t = x.shape[1]
        cos, sin = self._cos[start:start + t], self._sin[start:start + t]
        x1, x2 = x[..., 0::2], x[..., 1::2]
        out = np.empty_like(x)
        out[..., 0::2] = x1 * cos - x2 * sin
        out[..., 1::2] = x1 * sin + x2 * cos
        return out

    def forward(self, tokens: list[int], cache: KVCache, *, all_logits: bool = False) -> F32:
        """Run ``tokens`` at positions ``cache.length..``; logits of the last (or every) token."""
        x = self._run(tokens, cache)
        hidden = _rms_norm(x if all_logits else x[-1:], self.final_norm)
        logits = hidden @ self.lm_head + self.logit_bias
        return logits if all_logits else logits[0]

    def hidden_states(self, tokens: list[int]) -> F32:
        """Final-norm hidden states ``[T, d]`` of ``tokens`` in a fresh cache (for embeddings)."""
        x = self._run(tokens[: self.cfg.max_seq], self.new_cache())
        return _rms_norm(x, self.final_norm)

    def _run(self, tokens: list[int], cache: KVCache) -> F32:
        cfg = self.cfg
        start, t = cache.length, len(tokens)
        if t == 0:
            raise DemoConfigError("forward() needs at least one token")
        if start + t > cache.capacity:
            raise DemoConfigError(f"sequence of {start + t} tokens exceeds the cache ({cache.capacity})")
        h, hd = cfg.n_heads, cfg.head_dim
        x = self.embed[np.asarray(tokens)]  # [T, d]
        end = start + t
        # causal mask for the new queries against all keys so far
        qpos = np.arange(start, end)[:, None]
        kpos = np.arange(end)[None, :]
        mask = np.where(kpos <= qpos, 0.0, -np.inf).astype(np.float32)
        for li, layer in enumerate(self.layers):
            a = _rms_norm(x, layer["attn_norm"]) @ layer["wqkv"]  # [T, 3d]
            q, k, v = (a[:, i * cfg.d_model:(i + 1) * cfg.d_model].reshape(t, h, hd).transpose(1, 0, 2)
                       for i in range(3))
            q, k = self._rope(q, start), self._rope(k, start)
            cache.k[li, :, start:end] = k
            cache.v[li, :, start:end] = v
            keys, vals = cache.k[li, :, :end], cache.v[li, :, :end]
            scores = (q @ keys.transpose(0, 2, 1)) * (hd ** -0.5) + mask  # [h, T, end]
            scores -= scores.max(axis=-1, keepdims=True)
            p = np.exp(scores)
            p /= p.sum(axis=-1, keepdims=True)
            o = (p @ vals).transpose(1, 0, 2).reshape(t, cfg.d_model)
            x = x + o @ layer["wo"]
            gu = _rms_norm(x, layer["mlp_norm"]) @ layer["w_gate_up"]
            gate, up = gu[:, :cfg.d_ff], gu[:, cfg.d_ff:]
            x = x + ((gate / (1.0 + np.exp(-gate))) * up) @ layer["w_down"]
        cache.length = end
        return x


def sample(logits: F32, temperature: float, rng: np.random.Generator) -> int:
    """Greedy for ``temperature <= 0``, else a draw from ``softmax(logits / temperature)``."""
    if temperature <= 0:
        return int(np.argmax(logits))
    z = logits.astype(np.float64) / temperature
    z -= z.max()
    p = np.exp(z)
    p /= p.sum()
    return int(rng.choice(len(p), p=p))


__all__ = ["KVCache", "ModelConfig", "NumpyDecoder", "sample"]
