"""``record_generation``: time to first token and token counts for any model server.

vLLM exposes its own ``vllm:*`` histograms; a FastAPI model server that generates tokens
itself calls this once per request, where TTFT and the token counts are known::

    record_generation(ttft_s=first_token_s, input_tokens=len(prompt), output_tokens=len(out),
                      model="llama-3-8b")

Both land on ``/metrics`` and over OTLP under the OTel gen_ai semconv names
(``gen_ai.server.time_to_first_token``, ``gen_ai.client.token.usage`` by ``gen_ai.token.type``).
The current span (the request's) gets the counts as ``gen_ai.usage.*_tokens``, the TTFT and, when
the engine reports its own split, its queue/prefill/decode times under vLLM's names
(``gen_ai.latency.time_to_first_token``, ``time_in_queue``, ``time_in_model_prefill``,
``time_in_model_decode``, seconds): the analysis splits a request's own time into the engine's
queue and compute from them (``engine_queue`` / ``engine_compute`` parts).
"""

from __future__ import annotations

import logging
import math

from infersight.instrument.helpers._sinks import Sinks
from opentelemetry import metrics, trace
from prometheus_client import CollectorRegistry

logger = logging.getLogger(__name__)

_UNKNOWN_MODEL = "unknown"


def record_generation(*, ttft_s: float | None = None, input_tokens: int | None = None,
                      output_tokens: int | None = None, model: str | None = None,
                      queue_s: float | None = None, prefill_s: float | None = None,
                      decode_s: float | None = None,
                      meter_provider: metrics.MeterProvider | None = None,
                      registry: CollectorRegistry | None = None) -> None:
    """Record one generation's TTFT (seconds), token counts and, when your engine knows them, its
    own split of the request (``queue_s`` waiting for a batch slot, ``prefill_s``, ``decode_s``);
    ``None`` skips one.

        t0 = time.perf_counter()
        first = await anext(stream)                      # the first token
        record_generation(ttft_s=time.perf_counter() - t0, input_tokens=len(prompt_ids),
                          output_tokens=n_generated, model="glm-4-9b")

    Call it once per generation, when the numbers are known (after the last token for
    ``output_tokens``; the TTFT may be recorded on its own earlier). It feeds OTel semconv's
    ``gen_ai.server.time_to_first_token`` and ``gen_ai.client.token.usage`` (by
    ``gen_ai.token.type`` input/output) on ``/metrics`` and over OTLP: the overview board's
    Generation row and the vLLM detectors read them (vLLM's own plugin records them for you).
    ``model`` becomes the ``gen_ai_request_model`` label: keep it to the few model names a
    server serves. Called inside the request (its span is current), the TTFT, the counts and
    the engine's split go on that span (vLLM's ``gen_ai.latency.*`` names): the analysis then
    tells the engine's queueing from its compute. Bad values (negative, NaN, wrong type) are
    logged and skipped; telemetry never raises into the request.
    """
    try:
        _record(ttft_s, input_tokens, output_tokens, model, Sinks(None, meter_provider, registry))
        _engine_split(ttft_s, queue_s, prefill_s, decode_s)
    except Exception:
        logger.warning("record_generation: recording failed", exc_info=True)


def _valid(name: str, value: float | None) -> bool:
    if value is None:
        return False
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        logger.warning("record_generation: %s=%r is not a finite number >= 0; skipped", name, value)
        return False
    return True


def _record(ttft_s: float | None, input_tokens: int | None, output_tokens: int | None,
            model: str | None, sinks: Sinks) -> None:
    name = model if isinstance(model, str) and model else _UNKNOWN_MODEL
    prom, otel = sinks.prom, sinks.otel
    span = trace.get_current_span()
    if _valid("ttft_s", ttft_s):
        assert ttft_s is not None
        prom["gen_ai_server_time_to_first_token_seconds"].labels(name).observe(ttft_s)
        otel.gen_ai_ttft.record(ttft_s, {"gen_ai.request.model": name})
    for kind, count in (("input", input_tokens), ("output", output_tokens)):
        if not _valid(f"{kind}_tokens", count):
            continue
        assert count is not None
        prom["gen_ai_client_token_usage"].labels(name, kind).observe(count)
        otel.gen_ai_tokens.record(count, {"gen_ai.request.model": name, "gen_ai.token.type": kind})
        if span.is_recording():
            span.set_attribute(f"gen_ai.usage.{kind}_tokens", int(count))


_SPLIT = (("ttft_s", "gen_ai.latency.time_to_first_token"), ("queue_s", "gen_ai.latency.time_in_queue"),
          ("prefill_s", "gen_ai.latency.time_in_model_prefill"), ("decode_s", "gen_ai.latency.time_in_model_decode"))


def _engine_split(ttft_s: float | None, queue_s: float | None, prefill_s: float | None,
                  decode_s: float | None) -> None:
    span = trace.get_current_span()
    if not span.is_recording():
        return
    values = {"ttft_s": ttft_s, "queue_s": queue_s, "prefill_s": prefill_s, "decode_s": decode_s}
    for arg, attr in _SPLIT:
        value = values[arg]
        # a bad ttft_s was already reported by _record: skip it quietly here
        ok = _finite(value) if arg == "ttft_s" else _valid(arg, value)
        if ok:
            span.set_attribute(attr, float(value))  # type: ignore[arg-type]
    if prefill_s is not None and decode_s is not None and _finite(prefill_s) and _finite(decode_s):
        span.set_attribute("gen_ai.latency.time_in_model_inference", float(prefill_s) + float(decode_s))


def _finite(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value >= 0


__all__ = ["record_generation"]
