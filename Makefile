# The two Quick start commands: `make demo` and `make test`. Everything else here serves them.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)

.PHONY: install system-deps demo test lint unit provision bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q -U pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

system-deps:
	bash scripts/system-deps.sh

demo: install system-deps
	$(BIN)/python -m scripts.demo

lint: install
	$(BIN)/ruff check src tests bench scripts docs/capture.py
	$(BIN)/ruff format --check src tests bench scripts docs/capture.py
	$(BIN)/mypy
	$(BIN)/mypy --strict docs/capture.py scripts/demo.py
	$(BIN)/lint-imports

provision: install system-deps
	$(BIN)/python -m braindump_cli.sandbox.servers.provision

# The whole suite: lint, type checks, layer contracts, then every test against real servers.
test: lint provision
	$(BIN)/pytest

unit: install
	$(BIN)/pytest -m "not postgres and not airflow_schema and not kube and not cassandra and not install"

bench: install
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
