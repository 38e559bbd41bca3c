-- compare: which span attributes, operations and services differ between two sets of traces
-- (Tempo's compare(), offline). Inputs: stg_spans; params $selection, $baseline (VARCHAR[] of trace
-- ids). Output grain: one row per (scope, key, value): the share of selection traces and of
-- baseline traces that carry it, and the difference.
WITH sel AS (SELECT unnest($selection) AS trace_id),
base AS (SELECT unnest($baseline) AS trace_id),
tagged AS (
    SELECT s.trace_id, 'selection' AS side, s.* EXCLUDE (trace_id) FROM stg_spans s SEMI JOIN sel USING (trace_id)
    UNION ALL
    SELECT s.trace_id, 'baseline' AS side, s.* EXCLUDE (trace_id) FROM stg_spans s SEMI JOIN base USING (trace_id)
),
pairs AS (
    SELECT trace_id, side, 'span' AS scope, e.key AS key, e.value AS value
    FROM (SELECT trace_id, side, unnest(map_entries(attrs)) AS e FROM tagged)
    UNION ALL
    SELECT trace_id, side, 'operation', service, name FROM tagged
    UNION ALL
    SELECT trace_id, side, 'resource', e.key, e.value
    FROM (SELECT trace_id, side, unnest(map_entries(resource)) AS e FROM tagged)
),
counts AS (
    SELECT scope, key, value,
           count(DISTINCT trace_id) FILTER (WHERE side = 'selection') AS selection_traces,
           count(DISTINCT trace_id) FILTER (WHERE side = 'baseline')  AS baseline_traces
    FROM pairs GROUP BY scope, key, value
),
totals AS (
    SELECT (SELECT count(*) FROM sel) AS n_sel, (SELECT count(*) FROM base) AS n_base
)
SELECT scope, key, value, selection_traces, baseline_traces,
       selection_traces / greatest(n_sel, 1)::DOUBLE AS selection_share,
       baseline_traces / greatest(n_base, 1)::DOUBLE AS baseline_share,
       selection_traces / greatest(n_sel, 1)::DOUBLE - baseline_traces / greatest(n_base, 1)::DOUBLE AS difference
FROM counts, totals
ORDER BY abs(difference) DESC, scope, key, value;
