"""The model really computes: determinism, KV cache == recompute, prefix cache reuse."""

from __future__ import annotations

import numpy as np
import pytest
from infersight.demo import DemoConfigError, Engine, ModelConfig, NumpyDecoder, PrefixCache, Tokenizer
from infersight.demo._tokenizer import SPECIALS


@pytest.fixture(scope="module")
def tok() -> Tokenizer:
    return Tokenizer()


def _model(tok: Tokenizer, seed: int = 1234, **kw: int) -> NumpyDecoder:
    cfg = dict(d_model=64, n_layers=2, n_heads=4, d_ff=128, max_seq=256)
    cfg.update(kw)
    return NumpyDecoder(ModelConfig(vocab_size=tok.vocab_size, seed=seed, n_special=len(SPECIALS), **cfg))


def test_tokenizer_round_trips_any_text(tok: Tokenizer) -> None:
    for text in ("Why was I charged twice?", "héllo wörld €42 \n\t 日本", "", "<|user|>hi<|assistant|>"):
        assert tok.decode(tok.encode(text)) == text
    assert len(tok.encode("the payment was declined")) < len(b"the payment was declined")  # merges


def test_same_seed_same_tokens_other_seed_other_tokens(tok: Tokenizer) -> None:
    prompt = tok.apply_chat_template([{"role": "user", "content": "Summarize my account activity."}])
    a = Engine(_model(tok)).generate(prompt, 24, temperature=0.8, seed=3).output_ids
    b = Engine(_model(tok)).generate(prompt, 24, temperature=0.8, seed=3).output_ids
    c = Engine(_model(tok, seed=99)).generate(prompt, 24, temperature=0.8, seed=3).output_ids
    assert a == b and len(a) == 24
    assert a != c
    assert not set(a) & set(tok.special_ids.values())  # chat tags are never generated


def test_kv_cache_equals_full_recompute(tok: Tokenizer) -> None:
    m = _model(tok)
    ids = tok.encode("The merchant can respond with evidence such as receipts and delivery confirmation.")
    cache = m.new_cache()
    step_logits = [m.forward(ids[:5], cache)]
    for t in ids[5:]:
        step_logits.append(m.forward([t], cache))
    full = m.forward(ids, m.new_cache(), all_logits=True)
    np.testing.assert_allclose(np.stack(step_logits), full[4:], rtol=1e-4, atol=1e-4)


def test_prefix_cache_hit_gives_the_same_tokens(tok: Tokenizer) -> None:
    m = _model(tok)
    system = {"role": "system", "content": "You are a helpful assistant for a payments company. " * 4}
    p1 = tok.apply_chat_template([system, {"role": "user", "content": "Why was my card declined?"}])
    p2 = tok.apply_chat_template([system, {"role": "user", "content": "How long does a wire take?"}])
    cold = Engine(m, prefix_cache=PrefixCache(block_size=16, max_blocks=0))
    warm = Engine(m, prefix_cache=PrefixCache(block_size=16, max_blocks=64))
    warm.generate(p1, 4)
    hit = warm.generate(p2, 16, temperature=0.7, seed=5)
    miss = cold.generate(p2, 16, temperature=0.7, seed=5)
    assert hit.prefix_hit_tokens >= 32 and hit.prefix_hit_tokens % 16 == 0
    assert miss.prefix_hit_tokens == 0
    assert hit.output_ids == miss.output_ids


def test_context_limit_is_a_clear_error(tok: Tokenizer) -> None:
    eng = Engine(_model(tok, max_seq=64))
    with pytest.raises(DemoConfigError, match="context of 64"):
        eng.generate(list(range(60)), 10)
    with pytest.raises(DemoConfigError):
        eng.generate([], 4)


def test_engine_thread_batches_and_streams(tok: Tokenizer) -> None:
    eng = Engine(_model(tok), max_batch=4)
    eng.start()
    try:
        streamed: list[int | None] = []
        from infersight.demo import GenRequest

        reqs = [eng.submit(GenRequest(tok.encode(f"question {i}"), 12, 0.0, i,
                                      on_token=streamed.append if i == 0 else None)) for i in range(6)]
        for r in reqs:
            assert r.done.wait(30)
            assert r.error is None and len(r.output_ids) == 12
            assert r.enqueued_ns <= r.admitted_ns <= r.prefill_end_ns <= r.first_token_ns <= r.done_ns
        assert streamed[-1] is None and streamed[:-1] == reqs[0].output_ids
    finally:
        eng.stop()
