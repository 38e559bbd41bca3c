"""The same decoder in PyTorch (CUDA when available), used when torch is installed.

Weights are the NumPy model's (same seed, same numbers), moved to the device, so both backends
give the same logits up to float rounding. Logits come back as NumPy for sampling.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from infersight.demo._errors import DemoConfigError
from infersight.demo._model import ModelConfig, NumpyDecoder


class TorchKVCache:
    def __init__(self, cfg: ModelConfig, device: torch.device, capacity: int | None = None) -> None:
        self.capacity = min(capacity or cfg.max_seq, cfg.max_seq)
        shape = (cfg.n_layers, cfg.n_heads, self.capacity, cfg.head_dim)
        self.k = torch.zeros(shape, dtype=torch.float32, device=device)
        self.v = torch.zeros(shape, dtype=torch.float32, device=device)
        self.length = 0

    def export_block(self, start: int, end: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.k[:, :, start:end].clone(), self.v[:, :, start:end].clone()

    def import_block(self, start: int, k: torch.Tensor, v: torch.Tensor) -> None:
        end = start + k.shape[2]
        self.k[:, :, start:end] = k
        self.v[:, :, start:end] = v
        self.length = max(self.length, end)


def _rms(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    return x * torch.rsqrt((x * x).mean(dim=-1, keepdim=True) + 1e-5) * w


class TorchDecoder:
    backend = "torch"

    def __init__(self, cfg: ModelConfig, device: str | None = None) -> None:
        ref = NumpyDecoder(cfg)
        self.cfg = cfg
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        dev = torch.device(self.device)

        def t(a: Any) -> torch.Tensor:
            return torch.from_numpy(np.ascontiguousarray(a)).to(dev)

        self.embed = t(ref.embed)
        self.layers = [{k: t(v) for k, v in layer.items()} for layer in ref.layers]
        self.final_norm = t(ref.final_norm)
        self.lm_head = t(ref.lm_head)
        self.logit_bias = t(ref.logit_bias)
        self._cos, self._sin = t(ref._cos), t(ref._sin)
        self._dev = dev

    def new_cache(self, capacity: int | None = None) -> TorchKVCache:
        return TorchKVCache(self.cfg, self._dev, capacity)

    def _rope(self, x: torch.Tensor, start: int) -> torch.Tensor:
        n = x.shape[1]
        cos, sin = self._cos[start:start + n], self._sin[start:start + n]
        x1, x2 = x[..., 0::2], x[..., 1::2]
        out = torch.empty_like(x)
        out[..., 0::2] = x1 * cos - x2 * sin
        out[..., 1::2] = x1 * sin + x2 * cos
        return out

    @torch.inference_mode()
    def _run(self, tokens: list[int], cache: TorchKVCache) -> torch.Tensor:
        cfg = self.cfg
        start, n = cache.length, len(tokens)
        if n == 0:
            raise DemoConfigError("forward() needs at least one token")
        if start + n > cache.capacity:
            raise DemoConfigError(f"sequence of {start + n} tokens exceeds the cache ({cache.capacity})")
        h, hd, end = cfg.n_heads, cfg.head_dim, start + n
        x = self.embed[torch.tensor(tokens, device=self._dev)]
        qpos = torch.arange(start, end, device=self._dev)[:, None]
        kpos = torch.arange(end, device=self._dev)[None, :]
        mask = torch.where(kpos <= qpos, 0.0, float("-inf"))
        for li, layer in enumerate(self.layers):
            a = _rms(x, layer["attn_norm"]) @ layer["wqkv"]
            q, k, v = (a[:, i * cfg.d_model:(i + 1) * cfg.d_model].reshape(n, h, hd).transpose(0, 1)
                       for i in range(3))
            q, k = self._rope(q, start), self._rope(k, start)
            cache.k[li, :, start:end] = k
            cache.v[li, :, start:end] = v
            scores = (q @ cache.k[li, :, :end].transpose(1, 2)) * (hd ** -0.5) + mask
            o = (torch.softmax(scores, dim=-1) @ cache.v[li, :, :end]).transpose(0, 1).reshape(n, cfg.d_model)
            x = x + o @ layer["wo"]
            gu = _rms(x, layer["mlp_norm"]) @ layer["w_gate_up"]
            gate, up = gu[:, :cfg.d_ff], gu[:, cfg.d_ff:]
            x = x + (torch.nn.functional.silu(gate) * up) @ layer["w_down"]
        cache.length = end
        return x

    def forward(self, tokens: list[int], cache: TorchKVCache, *, all_logits: bool = False) -> Any:
        x = self._run(tokens, cache)
        with torch.inference_mode():
            hidden = _rms(x if all_logits else x[-1:], self.final_norm)
            logits = (hidden @ self.lm_head + self.logit_bias).float().cpu().numpy()
        return logits if all_logits else logits[0]

    def hidden_states(self, tokens: list[int]) -> Any:
        x = self._run(tokens[: self.cfg.max_seq], self.new_cache())
        with torch.inference_mode():
            return _rms(x, self.final_norm).float().cpu().numpy()


__all__ = ["TorchDecoder", "TorchKVCache"]
