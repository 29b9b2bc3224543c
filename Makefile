# Set-up is two commands on a fresh machine with Python 3.11: `make demo` and `make test`.
# Every target builds .venv with the machine's python3 if it is missing and installs what it needs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip

.PHONY: demo test test-loops test-oldest lint bench soak format clean

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

# The whole suite again on uvloop and on a Proactor-like loop, Windows' default (tests/loops.py).
test-loops: $(VENV)/.installed-test
	$(BIN)/python -m pytest --loop uvloop
	$(BIN)/python -m pytest --loop proactor

# The whole suite on exactly the floors pyproject.toml declares (.ci/floors.py pins them), in
# venvs of their own. ipykernel 7.4 needs a newer Tornado than tzmq's floor, so the Jupyter
# tests run in a second venv: the jupyter extra at its floors, tzmq's own requirements free.
OLDEST := .venv-oldest
$(OLDEST)-%/.installed: pyproject.toml .ci/floors.py
	rm -rf $(@D)
	$(PYTHON) -m venv $(@D)
	echo '*' > $(@D)/.gitignore
	$(PYTHON) .ci/floors.py $(FLOORS) > $(@D)/constraints.txt
	$(@D)/bin/python -m pip install --quiet --upgrade pip
	$(@D)/bin/python -m pip install --quiet -c $(@D)/constraints.txt -e '.[$(EXTRAS)]'
	touch $@

$(OLDEST)-core/.installed: FLOORS := dependencies test
$(OLDEST)-core/.installed: EXTRAS := test
$(OLDEST)-jupyter/.installed: FLOORS := jupyter test
$(OLDEST)-jupyter/.installed: EXTRAS := test,jupyter

test-oldest: $(OLDEST)-core/.installed $(OLDEST)-jupyter/.installed
	$(OLDEST)-core/bin/python -m pytest --ignore=tests/jupyter
	$(OLDEST)-core/bin/python -m pytest --loop uvloop tests/stream tests/test_loops.py
	$(OLDEST)-jupyter/bin/python -m pytest tests/jupyter

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
	rm -rf $(VENV) $(OLDEST)-core $(OLDEST)-jupyter build *.egg-info
