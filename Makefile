# Vigil — the two commands that matter on a fresh machine: `make demo` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PYTEST_ARGS ?=

.PHONY: demo test bench lint sysdeps venv clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $(STAMP)

venv: $(STAMP)

## make demo: create .venv, install, and open the console on the built-in demo scenario (ctrl+q quits)
demo: $(STAMP)
	$(BIN)/vigil demo

## make test: same set-up, system packages the tests use (rsyslog, nats-server, …), then the whole suite
test: $(STAMP) sysdeps
	$(BIN)/python -m pytest -n 2 -q --durations=20 $(PYTEST_ARGS)

## make bench: throughput, latency and memory figures with ratios against baselines measured in the same run
bench: $(STAMP)
	@bash scripts/install-sysdeps.sh bench
	@# Byte-compile up front as an installed package would be, so start-up is measured and not compilation.
	@$(BIN)/python -m compileall -q app store detectors playbooks
	$(BIN)/python -m bench

## make lint: ruff, mypy and the import contract (store/detectors/playbooks never import Textual)
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports

sysdeps:
	@bash scripts/install-sysdeps.sh

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
