# Set-up is two commands on a fresh machine with Python 3.11: `make demo` and `make test`.
# Every target builds .venv with the machine's python3 if it is missing and installs what it needs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip

.PHONY: demo test lint bench soak format clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

# One stamp per set of extras, remade when pyproject.toml changes.
$(VENV)/.installed-base: pyproject.toml | $(BIN)/python
	$(PIP) install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(PIP) install --quiet -e '.[test,jupyter]'
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(PIP) install --quiet -e '.[test,jupyter,dev]'
	touch $@

demo: $(VENV)/.installed-base
	$(BIN)/python -m demos

test: $(VENV)/.installed-test
	$(BIN)/python -m pytest

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check tzmq tests demos benchmarks
	$(BIN)/ruff format --check tzmq tests demos benchmarks
	$(BIN)/mypy --strict tzmq demos

format: $(VENV)/.installed-dev
	$(BIN)/ruff check --fix tzmq tests demos benchmarks
	$(BIN)/ruff format tzmq tests demos benchmarks

bench: $(VENV)/.installed-test
	$(BIN)/python -m benchmarks

# Minutes, not in CI: tests/reliability at full size (1M messages, RSS asserted flat).
soak: $(VENV)/.installed-test
	$(BIN)/python -m tests.reliability.soak

clean:
	rm -rf $(VENV) build *.egg-info
