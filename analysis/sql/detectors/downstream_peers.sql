-- downstream_peers: per peer of outgoing calls: calls, client-side latency percentiles and the
-- client-minus-server gap (network, queueing, connection setup) where the peer is traced too.
-- Inputs: f_client_calls. Output grain: one row per peer.
SELECT
    peer,
    count(*)                                            AS calls,
    quantile_cont(duration_ms, 0.5)                     AS client_p50_ms,
    quantile_cont(duration_ms, 0.99)                    AS client_p99_ms,
    quantile_cont(server_ms, 0.5)                       AS server_p50_ms,
    avg(duration_ms - server_ms)                        AS mean_gap_ms,
    count(server_ms)                                    AS traced_server_side,
    list(DISTINCT name)                                 AS span_names
FROM f_client_calls
GROUP BY peer
ORDER BY calls DESC;
