"""An open-loop load generator for the demo server (``infersight demo load``).

Arrivals follow a Poisson process at ``rate`` requests/s (optionally ramping linearly to
``ramp_to``), decided in advance and never slowed by the server: a request's latency is
measured from its *scheduled* send time, so queueing in the client or the server counts
(no coordinated omission). The mix: hot FAQ questions (cacheable), chats with a realistic
prompt-length mix sharing a system prompt (prefix cache), streaming chats (TTFT), embeddings.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from infersight.demo._errors import DemoConfigError
from infersight.demo._openloop import OpenLoopRequest, RequestRecord, run_open_loop

SYSTEM_PROMPT = ("You are a helpful assistant for a payments company. Answer briefly, never reveal card "
                 "numbers, and explain risk decisions in plain language to the customer.")
HOT_QUESTIONS = (
    "Why was my card payment declined?", "How long does a wire transfer take?", "How do I dispute a charge?",
    "What is a chargeback?", "Why was I charged twice?", "How do I reset my password?",
    "When is interest paid on my savings account?", "What does a pending authorization mean?",
)
_WORDS = ("payment transfer account card merchant refund invoice amount currency balance fee dispute "
          "chargeback fraud review limit statement pending settled declined customer bank order "
          "delivery receipt total monthly interest rate savings wire business day risk score").split()


def _percentile(sorted_vals: list[float], q: float) -> float | None:
    if not sorted_vals:
        return None
    k = min(len(sorted_vals) - 1, max(0, int(round(q * (len(sorted_vals) - 1)))))
    return sorted_vals[k]


@dataclass
class LoadConfig:
    url: str
    rate: float = 8.0
    duration: float = 30.0
    ramp_to: float | None = None
    seed: int = 0
    hot_fraction: float = 0.45
    stream_fraction: float = 0.25
    embed_fraction: float = 0.1
    users: int = 50_000
    timeout: float = 30.0
    max_in_flight: int = 2000

    def __post_init__(self) -> None:
        self.url = self.url.rstrip("/")
        if not self.url.startswith(("http://", "https://")):
            raise DemoConfigError(f"--url must be an http(s) URL, got {self.url!r}")
        if not self.rate > 0 or (self.ramp_to is not None and not self.ramp_to > 0):
            raise DemoConfigError("--rate (and --ramp-to) must be > 0")
        if not self.duration > 0:
            raise DemoConfigError("--duration must be > 0")
        if not 0 <= self.hot_fraction + self.stream_fraction + self.embed_fraction <= 1:
            raise DemoConfigError("hot + stream + embed fractions must be within [0, 1]")

    def rate_at(self, t: float) -> float:
        if self.ramp_to is None:
            return self.rate
        return self.rate + (self.ramp_to - self.rate) * min(1.0, t / self.duration)


@dataclass
class LoadSummary:
    url: str
    target_rate: float
    ramp_to: float | None
    duration_s: float
    started_at: float
    ended_at: float
    requests: int
    ok: int
    errors: dict[str, int]
    achieved_rps: float
    latency_ms: dict[str, float | None]
    ttft_ms: dict[str, float | None]
    by_kind: dict[str, dict[str, Any]]
    timeline: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        # per-request records (not a field: asdict/to_json stay summaries); see write_requests_csv
        self.records: list[RequestRecord] = []

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)


def _stats(vals: list[float]) -> dict[str, float | None]:
    s = sorted(v * 1000 for v in vals)
    return {"p50": _percentile(s, 0.5), "p90": _percentile(s, 0.9), "p99": _percentile(s, 0.99),
            "max": s[-1] if s else None, "mean": sum(s) / len(s) if s else None}


class _Mix:
    def __init__(self, cfg: LoadConfig) -> None:
        self.cfg = cfg
        self.rng = random.Random(cfg.seed)
        common = random.Random(12345)
        self._common = [" ".join(common.choice(_WORDS) for _ in range(6)) for _ in range(30)]

    def _text(self, n_words: int) -> str:
        return " ".join(self.rng.choice(_WORDS) for _ in range(n_words)) + "?"

    def _user(self) -> str:
        # skewed like real traffic: 70% of requests come from 1% of the users
        hot = max(1, self.cfg.users // 100)
        return str(self.rng.randrange(hot) if self.rng.random() < 0.7 else self.rng.randrange(self.cfg.users))

    def next(self) -> tuple[str, str, dict[str, Any]]:
        r, c = self.rng.random(), self.cfg
        user = self._user()
        if r < c.embed_fraction:  # half of the embedded texts recur (product names, FAQ titles)
            text = self._common[self.rng.randrange(len(self._common))] if self.rng.random() < 0.5 else \
                self._text(self.rng.randint(5, 40))
            return "embed", "/v1/embeddings", {"input": [text]}
        if r < c.embed_fraction + c.hot_fraction:
            q = self.rng.choice(HOT_QUESTIONS)
            return "hot", "/v1/chat/completions", {
                "messages": [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": q}],
                "max_tokens": 48, "temperature": 0, "user": user}
        cls = self.rng.random()
        n = self.rng.randint(8, 40) if cls < 0.6 else self.rng.randint(60, 120) if cls < 0.9 else \
            self.rng.randint(150, 250)
        stream = r >= 1.0 - c.stream_fraction
        body = {"messages": [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": self._text(n)}],
                "max_tokens": self.rng.randint(12, 48), "temperature": 0.8,
                "user": user}
        if stream:
            body.update(stream=True, stream_options={"include_usage": True})
        return ("stream" if stream else "chat"), "/v1/chat/completions", body


def _content_token(line: str) -> bool:
    """The first SSE chunk that carries generated text (not the role-only first delta)."""
    return line.startswith("data:") and '"content"' in line and '""' not in line


async def run_load(cfg: LoadConfig, progress: Callable[[float, int, int], None] | None = None,
                   spans: Any = None) -> LoadSummary:
    """Drive ``cfg.url`` open-loop for ``cfg.duration`` s; ``progress(elapsed, sent, done)`` ~5x/s.

    ``spans`` (a :class:`infersight.instrument.client.ClientSpans`) makes one CLIENT span per
    request, started at its scheduled send time; the per-request records are in
    ``LoadSummary.records`` (not serialised by ``to_json``; see ``write_requests_csv``).
    """
    mix = _Mix(cfg)

    def next_request(_rng: random.Random) -> OpenLoopRequest:
        kind, path, body = mix.next()
        return OpenLoopRequest("POST", path, json=body, stream=kind == "stream", kind=kind,
                               first_token=_content_token)

    started_wall = time.time()
    records = await run_open_loop(cfg.url, next_request, rate=cfg.rate_at, duration=cfg.duration,
                                  seed=cfg.seed, timeout=cfg.timeout, max_in_flight=cfg.max_in_flight,
                                  spans=spans, progress=progress)
    for r in records:  # the demo's embeddings do not stream; only chats have a first token
        if r.kind == "embed" or r.latency is None:
            r.ttft = None
        elif r.kind != "stream" and r.latency is not None:
            r.ttft = r.latency
    summary = summarize(cfg, records, started_wall, time.time())
    summary.records = records
    return summary


def summarize(cfg: LoadConfig, results: list[RequestRecord], started: float, ended: float) -> LoadSummary:
    ok = [r for r in results if r.latency is not None]
    errors: dict[str, int] = {}
    for r in results:
        if r.latency is None:
            errors[r.error or "unknown"] = errors.get(r.error or "unknown", 0) + 1
    by_kind: dict[str, dict[str, Any]] = {}
    for kind in sorted({r.kind for r in results}):
        rs = [r for r in results if r.kind == kind]
        by_kind[kind] = {"requests": len(rs), "ok": sum(r.latency is not None for r in rs),
                         "latency_ms": _stats([r.latency for r in rs if r.latency is not None])}
    timeline = []
    for sec in range(int(cfg.duration) + 1):
        lats = [r.latency for r in ok if sec <= r.scheduled < sec + 1 and r.latency is not None]
        st = _stats(lats)
        timeline.append({"t": sec, "n": len(lats), "p50_ms": st["p50"], "p99_ms": st["p99"]})
    return LoadSummary(
        url=cfg.url, target_rate=cfg.rate, ramp_to=cfg.ramp_to, duration_s=cfg.duration,
        started_at=started, ended_at=ended, requests=len(results), ok=len(ok), errors=errors,
        achieved_rps=len(ok) / max(1e-9, ended - started),
        latency_ms=_stats([r.latency for r in ok if r.latency is not None]),
        ttft_ms=_stats([r.ttft for r in ok if r.ttft is not None and r.kind == "stream"]),
        by_kind=by_kind, timeline=timeline)


Result = RequestRecord  # the earlier name

__all__ = ["HOT_QUESTIONS", "LoadConfig", "LoadSummary", "Result", "run_load", "summarize"]
