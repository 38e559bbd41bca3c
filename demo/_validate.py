"""Request validation for the OpenAI-compatible routes: bad input gets a clear 400."""

from __future__ import annotations

import hashlib
import zlib
from dataclasses import dataclass
from typing import Any

from infersight.demo._errors import DemoConfigError

MAX_TOKENS_LIMIT = 512


@dataclass
class ChatRequest:
    model: str
    messages: list[dict[str, str]]
    max_tokens: int
    temperature: float
    stream: bool
    include_usage: bool
    user: int
    explicit_seed: int | None

    @property
    def prompt_text(self) -> str:
        return "\n".join(m["content"] for m in self.messages)

    def seed(self, prompt_ids: list[int]) -> int:
        """The request's seed, else one derived from the prompt: same prompt, same answer."""
        if self.explicit_seed is not None:
            return self.explicit_seed
        return zlib.crc32(bytes(str(prompt_ids), "ascii"))

    def cache_key(self, prompt_ids: list[int]) -> str:
        h = hashlib.sha256(f"{self.model}|{self.max_tokens}|{self.temperature}|{self.seed(prompt_ids)}|"
                           f"{prompt_ids}".encode())
        return "chat:" + h.hexdigest()


def _int(body: dict[str, Any], name: str, default: int, lo: int, hi: int) -> int:
    v = body.get(name, default)
    if v is None:
        return default
    if isinstance(v, bool) or not isinstance(v, int):
        raise DemoConfigError(f"'{name}' must be an integer")
    if not lo <= v <= hi:
        raise DemoConfigError(f"'{name}' must be between {lo} and {hi}, got {v}")
    return v


def parse_chat(body: dict[str, Any], *, default_model: str) -> ChatRequest:
    msgs = body.get("messages")
    if not isinstance(msgs, list) or not msgs:
        raise DemoConfigError("'messages' must be a non-empty list of {role, content} objects")
    messages: list[dict[str, str]] = []
    for m in msgs:
        if not isinstance(m, dict) or not isinstance(m.get("content"), str):
            raise DemoConfigError("each message needs a string 'content'")
        role = m.get("role", "user")
        if role not in ("system", "user", "assistant"):
            raise DemoConfigError(f"unknown role {role!r}")
        messages.append({"role": role, "content": m["content"]})
    temp = body.get("temperature", 0.0)
    if isinstance(temp, bool) or not isinstance(temp, (int, float)) or not 0.0 <= temp <= 2.0:
        raise DemoConfigError("'temperature' must be a number between 0 and 2")
    user_raw = body.get("user", "0")
    user = int(user_raw) if str(user_raw).isdigit() else zlib.crc32(str(user_raw).encode()) % 50_000
    seed = body.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise DemoConfigError("'seed' must be an integer")
    opts = body.get("stream_options") or {}
    return ChatRequest(
        model=str(body.get("model") or default_model), messages=messages,
        max_tokens=_int(body, "max_tokens", 64, 1, MAX_TOKENS_LIMIT), temperature=float(temp),
        stream=bool(body.get("stream", False)), include_usage=bool(opts.get("include_usage", False)),
        user=user, explicit_seed=seed)


@dataclass
class EmbeddingsRequest:
    model: str
    inputs: list[str]


def parse_embeddings(body: dict[str, Any]) -> EmbeddingsRequest:
    inp = body.get("input")
    if isinstance(inp, str):
        inputs = [inp]
    elif isinstance(inp, list) and inp and all(isinstance(x, str) for x in inp):
        inputs = list(inp)
    else:
        raise DemoConfigError("'input' must be a string or a non-empty list of strings")
    if len(inputs) > 64:
        raise DemoConfigError("at most 64 inputs per request")
    return EmbeddingsRequest(model=str(body.get("model") or ""), inputs=inputs)


__all__ = ["ChatRequest", "EmbeddingsRequest", "parse_chat", "parse_embeddings"]
