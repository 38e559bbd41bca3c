"""The PyTorch backend computes the same logits as NumPy (skipped where torch is not installed)."""

from __future__ import annotations

import numpy as np
import pytest
from infersight.demo import Engine, ModelConfig, NumpyDecoder, Tokenizer

torch = pytest.importorskip("torch")


def test_torch_matches_numpy_and_prefix_cache_works() -> None:
    from infersight.demo._torch_model import TorchDecoder

    tok = Tokenizer()
    cfg = ModelConfig(vocab_size=tok.vocab_size, d_model=64, n_layers=2, n_heads=4, d_ff=128, max_seq=256,
                      n_special=4)
    ref, tm = NumpyDecoder(cfg), TorchDecoder(cfg, device="cuda" if torch.cuda.is_available() else "cpu")
    ids = tok.encode("The merchant can respond with evidence such as receipts.")
    np.testing.assert_allclose(tm.forward(ids, tm.new_cache(), all_logits=True),
                               ref.forward(ids, ref.new_cache(), all_logits=True), rtol=1e-3, atol=1e-3)
    prompt = tok.apply_chat_template([{"role": "user", "content": "Why was my card declined? " * 4}])
    eng = Engine(tm)
    first, second = eng.generate(prompt, 8), eng.generate(prompt, 8)
    assert second.prefix_hit_tokens > 0 and first.output_ids == second.output_ids
