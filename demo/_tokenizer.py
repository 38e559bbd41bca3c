"""A small byte-level BPE tokenizer, trained deterministically at start-up (no download).

256 byte tokens, then ``num_merges`` merges learned from a built-in corpus, then the special
tokens of the chat template. Any text round-trips (bytes are always encodable).
"""

from __future__ import annotations

import re
from collections import Counter
from functools import lru_cache

SPECIALS = ("<|endoftext|>", "<|system|>", "<|user|>", "<|assistant|>")
_WORD_RE = re.compile(r" ?[A-Za-z]+| ?[0-9]+| ?[^\sA-Za-z0-9]+|\s+")
_SPECIAL_RE = re.compile("(" + "|".join(re.escape(s) for s in SPECIALS) + ")")

# Text in the style of the prompts the demo serves (fintech support / risk questions).
CORPUS = """
The payment was declined because the card issuer flagged the transaction as unusual. Please verify
the merchant name, the amount and the currency, then retry the payment from the account settings.
A chargeback is a reversal of a card payment that the customer disputes with the bank. The merchant
can respond with evidence such as receipts, delivery confirmation and the customer's signature.
Our fraud model scores every transaction between zero and one; scores above the threshold are held
for manual review by the risk team. Explain the decision to the customer in plain language.
What is the status of my transfer? Why was I charged twice? How do I reset my password? The invoice
total does not match the order. Summarize the account activity for the last thirty days and list the
largest payments, the refunds and any pending authorizations. The interest rate on the savings
account is variable and is paid monthly. Wire transfers usually arrive within one business day.
You are a helpful assistant for a payments company. Answer briefly and never reveal card numbers.
Translate the following message into French. Write a short email to the customer about the delay.
Classify the sentiment of this review. Extract the amount, the date and the merchant from the text.
""" * 3


def _train(corpus: str, num_merges: int) -> list[tuple[int, int]]:
    words = Counter(tuple(w.encode()) for w in _WORD_RE.findall(corpus))
    seqs: dict[tuple[int, ...], int] = dict(words)
    merges: list[tuple[int, int]] = []
    next_id = 256
    for _ in range(num_merges):
        pairs: Counter[tuple[int, int]] = Counter()
        for seq, n in seqs.items():
            for a, b in zip(seq, seq[1:], strict=False):
                pairs[(a, b)] += n
        if not pairs:
            break
        # most frequent pair; ties broken by the smaller pair, so training is deterministic
        best = min(pairs, key=lambda p: (-pairs[p], p))
        if pairs[best] < 2:
            break
        merges.append(best)
        new: dict[tuple[int, ...], int] = {}
        for seq, n in seqs.items():
            new[_merge(seq, best, next_id)] = n
        seqs = new
        next_id += 1
    return merges


def _merge(seq: tuple[int, ...], pair: tuple[int, int], new_id: int) -> tuple[int, ...]:
    out: list[int] = []
    i = 0
    while i < len(seq):
        if i + 1 < len(seq) and seq[i] == pair[0] and seq[i + 1] == pair[1]:
            out.append(new_id)
            i += 2
        else:
            out.append(seq[i])
            i += 1
    return tuple(out)


class Tokenizer:
    """Byte-level BPE with a chat template (``<|system|>``, ``<|user|>``, ``<|assistant|>``)."""

    def __init__(self, num_merges: int = 256, corpus: str = CORPUS) -> None:
        self.merges = _train(corpus, num_merges)
        self._rank = {pair: i for i, pair in enumerate(self.merges)}
        self._bytes: list[bytes] = [bytes([i]) for i in range(256)]
        for a, b in self.merges:
            self._bytes.append(self._bytes[a] + self._bytes[b])
        base = len(self._bytes)
        self.special_ids = {s: base + i for i, s in enumerate(SPECIALS)}
        self.eos_id = self.special_ids["<|endoftext|>"]
        self.vocab_size = base + len(SPECIALS)
        self._encode_word = lru_cache(maxsize=65536)(self._encode_word_uncached)

    def _encode_word_uncached(self, word: str) -> tuple[int, ...]:
        seq = tuple(word.encode())
        while len(seq) > 1:
            ranked = [(self._rank.get(p, 1 << 30), i) for i, p in enumerate(zip(seq, seq[1:], strict=False))]
            rank, _ = min(ranked)
            if rank == 1 << 30:
                break
            seq = _merge(seq, self.merges[rank], 256 + rank)
        return seq

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text``; the special-token strings map to their ids."""
        ids: list[int] = []
        for part in _SPECIAL_RE.split(text):
            if not part:
                continue
            if part in self.special_ids:
                ids.append(self.special_ids[part])
                continue
            for word in _WORD_RE.findall(part):
                ids.extend(self._encode_word(word))
        return ids

    def decode(self, ids: list[int]) -> str:
        base = len(self._bytes)
        out = bytearray()
        for i in ids:
            if 0 <= i < base:
                out += self._bytes[i]
            elif base <= i < self.vocab_size:
                out += SPECIALS[i - base].encode()
        return out.decode("utf-8", errors="replace")

    def token_bytes(self, i: int) -> bytes:
        """The bytes of one non-special token (empty for specials), for incremental streaming."""
        return self._bytes[i] if 0 <= i < len(self._bytes) else b""

    def apply_chat_template(self, messages: list[dict[str, str]]) -> list[int]:
        """Token ids of a chat: one role tag per message, then the assistant tag."""
        ids: list[int] = []
        for m in messages:
            role = m.get("role", "user")
            tag = {"system": "<|system|>", "assistant": "<|assistant|>"}.get(role, "<|user|>")
            ids.append(self.special_ids[tag])
            ids.extend(self.encode(str(m.get("content", ""))))
        ids.append(self.special_ids["<|assistant|>"])
        return ids


__all__ = ["SPECIALS", "Tokenizer"]
