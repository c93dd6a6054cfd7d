# Two commands do everything: `make run` (the app, locally, end to end) and
# `make test` (the whole suite). Both call `make setup`, which is idempotent.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PY_STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.installed
# The repository's packages (devhost, emulator, ...) on the venv's path, so
# `.venv/bin/python -m devhost` works from any directory.
REPO_PTH := $(VENV)/.repo-on-path

.PHONY: setup run test quick lint typecheck unit bench soak clean

setup: $(PY_STAMP) $(NODE_STAMP) $(REPO_PTH)

$(PY_STAMP): requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

$(REPO_PTH): $(PY_STAMP)
	$(PY) -c 'import pathlib, sysconfig; pathlib.Path(sysconfig.get_paths()["purelib"], "durable-assistant.pth").write_text("$(CURDIR)\n")'
	touch $@

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

run: setup
	$(PY) -m localrun

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: setup
	$(VENV)/bin/mypy .

unit: setup
	$(VENV)/bin/pytest

test: lint typecheck unit

# The inner loop: orchestration, HTTP, function app and core tests (no processes).
QUICK_TESTS := tests/orchestration tests/http tests/test_function_app.py tests/core

quick: setup
	$(VENV)/bin/pytest -q $(QUICK_TESTS)

bench: setup
	$(PY) -m bench

soak: setup
	$(PY) -m bench.soak

clean:
	rm -rf $(VENV) node_modules .devhost .run .pytest_cache .mypy_cache .ruff_cache
