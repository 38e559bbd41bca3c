-- vllm_requests: vLLM requests in the window with their latency split into queue time and
-- compute (prefill + decode), prefill ms per prompt token, decode ms per output token
-- (tpot) and TTFT, for the vLLM detectors.
-- Inputs: stg_vllm_requests; params $since_ns, $until_ns. Output grain: one row per finished
-- vLLM request (llm_request span) that reports its e2e latency, oldest first.
SELECT
    trace_id,
    start_ns,
    end_ns,
    e2e_ms,
    ttft_ms,
    coalesce(queue_ms, 0)                                                        AS queue_ms,
    coalesce(prefill_ms, 0) + coalesce(decode_ms, 0)                             AS compute_ms,
    prefill_ms / nullif(prompt_tokens, 0)                                        AS prefill_ms_per_token,
    tpot_ms,
    coalesce(prompt_tokens, 0)                                                   AS prompt_tokens,
    coalesce(completion_tokens, 0)                                               AS completion_tokens,
    coalesce(queue_ms, 0) / nullif(e2e_ms, 0)                                    AS queue_share
FROM stg_vllm_requests
WHERE start_ns >= $since_ns AND start_ns < $until_ns AND e2e_ms IS NOT NULL
ORDER BY start_ns;
