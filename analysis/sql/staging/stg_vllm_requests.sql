-- stg_vllm_requests: vLLM's llm_request spans as typed request rows (gen_ai.latency.*, gen_ai.usage.*
-- and what the infersight vLLM plugin adds: GC/loop overlap, GPU energy/seconds/cost).
-- Inputs: stg_spans. Output grain: one row per finished vLLM request (vLLM emits no span for
-- errors or aborted streams). Durations in ms; NULL where vLLM did not report the value.
-- queue_share = queue / e2e: high means saturation (waiting for a batch slot), low with a slow
-- e2e means slow compute. frontend_ms = e2e minus queue, prefill and decode (tokenisation,
-- detokenisation, API-server stalls).
CREATE OR REPLACE TEMP VIEW stg_vllm_requests AS
WITH r AS (
    SELECT
        s.*,
        TRY_CAST(s.attrs['gen_ai.latency.e2e'] AS DOUBLE) * 1e3                   AS e2e_ms,
        TRY_CAST(s.attrs['gen_ai.latency.time_to_first_token'] AS DOUBLE) * 1e3   AS ttft_ms,
        TRY_CAST(s.attrs['gen_ai.latency.time_in_queue'] AS DOUBLE) * 1e3         AS queue_ms,
        TRY_CAST(s.attrs['gen_ai.latency.time_in_model_prefill'] AS DOUBLE) * 1e3 AS prefill_ms,
        TRY_CAST(s.attrs['gen_ai.latency.time_in_model_decode'] AS DOUBLE) * 1e3  AS decode_ms,
        TRY_CAST(s.attrs['gen_ai.latency.time_in_model_inference'] AS DOUBLE) * 1e3 AS inference_ms,
        TRY_CAST(s.attrs['gen_ai.usage.prompt_tokens'] AS BIGINT)                AS prompt_tokens,
        TRY_CAST(s.attrs['gen_ai.usage.completion_tokens'] AS BIGINT)            AS completion_tokens
    FROM stg_spans s
    WHERE s.name = 'llm_request'
)
SELECT
    trace_id,
    span_id,
    parent_span_id,
    service,
    coalesce(resource['service.instance.id'], service)                       AS instance,
    start_ns,
    end_ns,
    duration_ms,
    attrs['gen_ai.request.id']                                               AS request_id,
    coalesce(attrs['gen_ai.response.model'], attrs['gen_ai.request.model'])  AS model,
    e2e_ms,
    ttft_ms,
    queue_ms,
    prefill_ms,
    decode_ms,
    inference_ms,
    greatest(e2e_ms - coalesce(queue_ms, 0) - coalesce(prefill_ms, 0) - coalesce(decode_ms, 0), 0) AS frontend_ms,
    prefill_ms + decode_ms                                                   AS compute_ms,
    queue_ms / nullif(e2e_ms, 0)                                             AS queue_share,
    decode_ms / nullif(completion_tokens - 1, 0)                             AS tpot_ms,
    prompt_tokens,
    completion_tokens,
    TRY_CAST(attrs['gen_ai.request.max_tokens'] AS BIGINT)                   AS max_tokens,
    TRY_CAST(attrs['infersight.gc.pause_ms'] AS DOUBLE)                      AS gc_pause_ms,
    TRY_CAST(attrs['infersight.gc.pause_count'] AS BIGINT)                   AS gc_pause_count,
    TRY_CAST(attrs['infersight.event_loop.blocked_ms'] AS DOUBLE)            AS loop_blocked_ms,
    TRY_CAST(attrs['infersight.gpu.energy_j'] AS DOUBLE)                     AS gpu_energy_j,
    TRY_CAST(attrs['infersight.gpu.seconds'] AS DOUBLE)                      AS gpu_seconds,
    TRY_CAST(attrs['infersight.gpu.cost_usd'] AS DOUBLE)                     AS gpu_cost_usd,
    status_code
FROM r;
