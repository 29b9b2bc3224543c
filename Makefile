# Set-up is two commands on a fresh machine with Python 3.11: `make demo` and `make test`.
# Every target builds .venv with the machine's python3 if it is missing and installs what it needs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The setuptools "editable install" banner is noise in every target's output.
PIP := PYTHONWARNINGS="ignore:Editable installation" $(BIN)/python -m pip

.PHONY: demo test test-loops test-oldest lint bench bench-instructions soak format clean \
	docs browser web package

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

$(VENV)/.installed-docs: pyproject.toml | $(BIN)/python
	$(PIP) install --quiet -e '.[docs]'
	touch $@

$(VENV)/.installed-browser: pyproject.toml | $(BIN)/python
	$(PIP) install --quiet -e '.[test,browser]'
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
	$(BIN)/ruff check tzmq tests demos benchmarks docs
	$(BIN)/ruff format --check tzmq tests demos benchmarks docs
	$(BIN)/mypy --strict tzmq demos

format: $(VENV)/.installed-dev
	$(BIN)/ruff check --fix tzmq tests demos benchmarks docs
	$(BIN)/ruff format tzmq tests demos benchmarks docs

bench: $(VENV)/.installed-test
	$(BIN)/python -m benchmarks
	$(BIN)/python -m benchmarks.devices
	$(BIN)/python -m benchmarks.rpc

# CPU instructions per message under valgrind's callgrind; ARGS='--only echo --impl raw' narrows it.
bench-instructions: $(VENV)/.installed-test
	command -v valgrind >/dev/null || (apt-get update -qq && apt-get install -y -qq valgrind)
	$(BIN)/python -m benchmarks.instructions $(ARGS)

docs: $(VENV)/.installed-docs
	rm -rf build/docs
	$(BIN)/python -m sphinx -W --keep-going -E -q -b html docs build/docs

# Needs Debian's chromium at /usr/bin/chromium; fails (never skips) without it.
browser: $(VENV)/.installed-browser
	$(BIN)/python -m pytest tests/browser/browser_*.py

# The web_bridge demo as a user runs it: http://127.0.0.1:8888/
web: $(VENV)/.installed-base
	$(BIN)/python -m demos.web_bridge --role serve --port 8888

# sdist + wheel, checked, installed into a fresh venv (not editable) and smoke-tested from it.
package: $(VENV)/.installed-dev
	rm -rf dist build/wheel-venv build/wheel-smoke
	$(BIN)/python -m build --outdir dist .
	$(BIN)/twine check --strict dist/*
	$(PYTHON) -m venv build/wheel-venv
	# With the metrics extra: the docs' metrics example scrapes through prometheus_client.
	build/wheel-venv/bin/python -m pip install --quiet "$$(ls dist/tzmq-*.whl)[metrics]"
	mkdir -p build/wheel-smoke && cp -r demos docs/examples build/wheel-smoke/
	cd build/wheel-smoke && ../wheel-venv/bin/python -c "import tzmq; assert 'site-packages' in tzmq.__file__"
	cd build/wheel-smoke && ../wheel-venv/bin/python -m demos
	cd build/wheel-smoke && for f in examples/*.py; do ../wheel-venv/bin/python -W error $$f | diff - $${f%.py}.out || exit 1; done
	build/wheel-venv/bin/tzmq-logs --help > /dev/null

# Minutes, not in CI: tests/reliability at full size (1M messages, RSS asserted flat).
soak: $(VENV)/.installed-test
	$(BIN)/python -m tests.reliability.soak

clean:
	rm -rf $(VENV) $(OLDEST)-core $(OLDEST)-jupyter build dist *.egg-info
