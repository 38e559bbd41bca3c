-- model_device_changes: the moments a model moved between devices (the GPU plane's
-- infersight.model.device_change spans: CUDA lost, a fallback to the CPU, the move back).
-- Inputs: stg_spans; params $lo_ns, $hi_ns. Output grain: one row per change, oldest first.
SELECT start_ns, attrs['infersight.model.name'] AS model, attrs['infersight.model.device'] AS device,
       attrs['infersight.model.device.previous'] AS previous, attrs['infersight.model.device.source'] AS source,
       attrs['infersight.torch.cuda.available'] AS cuda_available
FROM stg_spans
WHERE name = 'infersight.model.device_change' AND start_ns >= $lo_ns AND start_ns < $hi_ns
ORDER BY start_ns;
