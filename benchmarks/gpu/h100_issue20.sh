#!/usr/bin/env bash
# Issue 20 on the GPU machine, one command (from the repo root; results in $OUT):
#     bash benchmarks/gpu/h100_issue20.sh                 # every phase, ~8 min on an H100
#     bash benchmarks/gpu/h100_issue20.sh --phases cost,open_loop,saturation   # or in two calls
# Needs python3 with torch (CUDA) on the machine and the wheels of .whl-gpu/ (see README.md).
# Afterwards, on the CPU machine: .venv/bin/python benchmarks/gpu/h100_issue20.py diagnose --from <OUT>
set -euo pipefail
OUT="${OUT:-$PWD/issue20-out}"
mkdir -p "$OUT" /tmp/site /tmp/pkg/infersight
if [ -d .whl-gpu ]; then
  python3 -m pip install -q --no-index --find-links .whl-gpu --target /tmp/site \
    fastapi uvicorn nvidia-ml-py prometheus-client opentelemetry-sdk \
    opentelemetry-exporter-otlp-proto-http opentelemetry-semantic-conventions
fi
cp -r infersight/* /tmp/pkg/infersight/
for d in instrument collectors analysis demo; do rm -rf "/tmp/pkg/infersight/$d"; cp -r "$d" "/tmp/pkg/infersight/$d"; done
nvidia-smi > "$OUT/nvidia_smi.txt" 2>&1 || true
PYTHONPATH=/tmp/pkg:/tmp/site PYTHONUNBUFFERED=1 python3 benchmarks/gpu/h100_issue20.py run --out "$OUT" "$@" \
  2>&1 | tee "$OUT/run.log"
