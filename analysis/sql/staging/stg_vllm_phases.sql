-- stg_vllm_phases: the per-request phases (preprocess, queue, prefill, decode) that the
-- infersight vLLM plugin reconstructs as child spans of llm_request (attribute
-- infersight.reconstructed = true), with the GC pause time of the EngineCore and Worker
-- processes (gc.pause spans, resource infersight.process.role) that overlapped each phase:
-- a GC pause in the engine stalls every request of the batch, so it shows in their phases.
-- Inputs: stg_spans. Output grain: one row per reconstructed phase span.
CREATE OR REPLACE TEMP VIEW stg_vllm_phases AS
WITH phases AS (
    SELECT trace_id, span_id, parent_span_id AS request_span_id, service,
           coalesce(attrs['infersight.phase'], replace(name, 'vllm.', '')) AS phase,
           attrs['gen_ai.request.id'] AS request_id, start_ns, end_ns, duration_ms
    FROM stg_spans
    WHERE name IN ('vllm.preprocess', 'vllm.queue', 'vllm.prefill', 'vllm.decode')
),
engine_gc AS (
    SELECT resource['infersight.process.role'] AS role, service, start_ns, end_ns
    FROM stg_spans
    WHERE name = 'gc.pause' AND resource['infersight.process.role'] IN ('engine_core', 'worker')
)
SELECT
    p.*,
    coalesce(sum(CASE WHEN g.role = 'engine_core'
                      THEN least(p.end_ns, g.end_ns) - greatest(p.start_ns, g.start_ns) END), 0) / 1e6
                                                                    AS engine_gc_ms,
    coalesce(sum(CASE WHEN g.role = 'worker'
                      THEN least(p.end_ns, g.end_ns) - greatest(p.start_ns, g.start_ns) END), 0) / 1e6
                                                                    AS worker_gc_ms
FROM phases p
LEFT JOIN engine_gc g
  ON g.service = p.service AND g.start_ns < p.end_ns AND g.end_ns > p.start_ns
GROUP BY ALL;
