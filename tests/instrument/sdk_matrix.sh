#!/usr/bin/env bash
# Runs the SDK-seam tests (tests/instrument/test_sdk_compat.py, the OTEL_* settings and the lean
# export tests) on the OLDEST OpenTelemetry releases pyproject.toml allows, in a throw-away venv.
# The installed (newest) SDK is covered by `make test`. Usage: bash tests/instrument/sdk_matrix.sh [VENV]
# (~2 min the first time: pip downloads the old releases).
set -euo pipefail
cd "$(dirname "$0")/../.."
VENV=${1:-${TMPDIR:-/tmp}/infersight-sdk-oldest}
PY=${PY:-python3}
# the floors of pyproject.toml's ranges (keep in step with it)
OLDEST=("opentelemetry-api==1.30.0" "opentelemetry-sdk==1.30.0" "opentelemetry-proto==1.30.0"
        "opentelemetry-exporter-otlp-proto-http==1.30.0" "opentelemetry-exporter-otlp-proto-common==1.30.0"
        "opentelemetry-instrumentation==0.51b0" "opentelemetry-instrumentation-asgi==0.51b0"
        "opentelemetry-instrumentation-fastapi==0.51b0" "opentelemetry-semantic-conventions==0.51b0"
        "opentelemetry-util-http==0.51b0" "prometheus-client==0.20.0")
test -x "$VENV/bin/python" || "$PY" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip >/dev/null
"$VENV/bin/python" -m pip install -q "${OLDEST[@]}" "click>=8.1,<9" "fastapi>=0.110,<0.164" "starlette>=0.37,<0.53" "httpx>=0.27,<1" \
  "pytest>=8,<9" "pytest-timeout>=2.3,<3" 2>&1 | grep -v "^WARNING: Location" || true
"$VENV/bin/python" -m pip install -q --no-deps -e . >/dev/null 2>&1
"$VENV/bin/python" -m pip list 2>/dev/null | grep -i '^opentelemetry-sdk '
exec "$VENV/bin/python" -m pytest -q -p no:cacheprovider -o addopts="-ra" \
  tests/instrument/test_sdk_compat.py tests/instrument/test_config_env.py
