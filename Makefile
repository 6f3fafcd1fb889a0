# The two quick-start commands. Each makes .venv and installs what it needs on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test lint bench

demo: $(VENV)/.installed
	$(BIN)/kosmo integrations:lua examples/failed_builds_on_main.lua --emulate --json

test: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/pytest

bench: $(VENV)/.installed
	$(BIN)/python benchmarks/startup.py
	$(BIN)/python benchmarks/fanout.py
	$(BIN)/python benchmarks/pages.py
	$(BIN)/python benchmarks/mcp_roundtrip.py
	$(BIN)/python benchmarks/hostcall.py
	$(BIN)/python benchmarks/convert.py
	$(BIN)/python benchmarks/logs.py

$(VENV)/.installed: pyproject.toml setup.py kosmo_lua/runtime/jsondecode.c
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet --config-settings editable_mode=compat -e '.[test]'
	touch $@
